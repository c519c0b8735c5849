output "kms_key_arn" {
  description = "ARN of the environment's KMS key."
  value       = aws_kms_key.this.arn
}

output "alarm_topic_arn" {
  description = "ARN of the SNS topic alarms notify."
  value       = aws_sns_topic.alarms.arn
}

output "log_group_names" {
  description = "Names of the created log groups."
  value       = [for g in aws_cloudwatch_log_group.this : g.name]
}
