output "queue_url" {
  description = "URL of the batch queue."
  value       = aws_sqs_queue.this.id
}

output "queue_arn" {
  description = "ARN of the batch queue."
  value       = aws_sqs_queue.this.arn
}

output "queue_name" {
  description = "Name of the batch queue."
  value       = aws_sqs_queue.this.name
}

output "dlq_name" {
  description = "Name of the dead-letter queue."
  value       = aws_sqs_queue.dlq.name
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}

output "events_topic_arn" {
  description = "SNS topic of batch outcome events."
  value       = aws_sns_topic.events.arn
}

output "webhook_secret_arn" {
  description = "Secrets Manager secret holding the webhook's signing key (null without a webhook)."
  value       = one(aws_secretsmanager_secret.webhook[*].arn)
}
