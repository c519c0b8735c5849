output "endpoint" {
  description = "Primary's host name (read-write)."
  value       = aws_db_instance.primary.address
}

output "port" {
  description = "PostgreSQL port."
  value       = aws_db_instance.primary.port
}

output "reader_endpoint" {
  description = "First read replica's host name, or the primary's when there is none."
  value       = length(aws_db_instance.replica) > 0 ? aws_db_instance.replica[0].address : aws_db_instance.primary.address
}

output "replica_identifiers" {
  description = "Identifiers of the read replicas."
  value       = aws_db_instance.replica[*].identifier
}

output "identifier" {
  description = "Identifier of the primary."
  value       = aws_db_instance.primary.identifier
}

output "database_name" {
  description = "Name of the runtime's database."
  value       = aws_db_instance.primary.db_name
}

output "master_username" {
  description = "Master user name."
  value       = aws_db_instance.primary.username
}

output "secret_arn" {
  description = "Secrets Manager secret holding the managed master password."
  value       = aws_db_instance.primary.master_user_secret[0].secret_arn
}
