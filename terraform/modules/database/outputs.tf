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
  description = "Secrets Manager secret with the master credentials (JSON: username, password, host, port, dbname, engine); for the migration Job only."
  value       = aws_secretsmanager_secret.master.arn
}

output "replica_endpoints" {
  description = "Host names of the read replicas, in order."
  value       = aws_db_instance.replica[*].address
}

output "resource_ids" {
  description = "RDS resource ids (db-...) of the primary and then each replica: the ids in rds-db:connect ARNs."
  value       = concat([aws_db_instance.primary.resource_id], aws_db_instance.replica[*].resource_id)
}

output "iam_username" {
  description = "Database user the runtime signs in as with IAM authentication."
  value       = var.iam_username
}

output "iam_connect_arns" {
  description = "rds-db:connect resource ARNs for iam_username on the primary and every replica."
  value       = [for id in concat([aws_db_instance.primary.resource_id], aws_db_instance.replica[*].resource_id) : "${local.dbuser_arn_prefix}:${id}/${var.iam_username}"]
}

output "admin_token_secret_arn" {
  description = "Secrets Manager secret holding the api's first bearer token (its value is put by envctl up)."
  value       = aws_secretsmanager_secret.admin_token.arn
}
