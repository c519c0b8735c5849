# The batch queue and its dead-letter queue, both encrypted with the environment's key.
# The batch bucket may send object-created notifications to the queue.

resource "aws_sqs_queue" "dlq" {
  name                              = "${var.name}-dlq"
  message_retention_seconds         = var.dlq_retention_seconds
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = var.tags
}

resource "aws_sqs_queue" "this" {
  name                              = var.name
  visibility_timeout_seconds        = var.visibility_timeout_seconds
  message_retention_seconds         = var.message_retention_seconds
  receive_wait_time_seconds         = 20
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.dlq_max_receive_count
  })
  tags = var.tags
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.this.arn]
  })
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.this.arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = var.notification_source_arns
    content {
      sid       = "BucketNotifications${statement.key}"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.this.arn]
      principals {
        type        = "Service"
        identifiers = ["s3.amazonaws.com"]
      }
      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [statement.value]
      }
    }
  }
}

resource "aws_sqs_queue_policy" "this" {
  queue_url = aws_sqs_queue.this.id
  policy    = data.aws_iam_policy_document.this.json
}

# Batch outcome events (RATES_EVENTS_TOPIC_ARN): the runtime publishes one message per
# batch that reaches a final status, with `status` and `type` message attributes that
# subscriptions filter on. Encrypted with the environment's key; subscribers in other
# accounts need a grant on it (docs/batches.md).
resource "aws_sns_topic" "events" {
  name              = "${var.name}-events"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

# The key batch outcome events posted to the webhook are signed with
# (RATES_WEBHOOK_SECRET). Terraform owns the secret, so it goes with the environment;
# envctl puts a value (32 random bytes) the first `up` after it exists and keeps any value
# already there, so an operator can put the receiver's own key instead. Its value is
# never in Terraform state.
resource "aws_secretsmanager_secret" "webhook" {
  # checkov:skip=CKV2_AWS_57:the receiver holds the same key; it is rotated by putting a new value and running envctl up, not by a rotation Lambda
  count = var.webhook_secret_name == null ? 0 : 1

  name                    = var.webhook_secret_name
  description             = "${var.name}: the key batch outcome webhooks are signed with, put here by envctl up"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = var.tags
}
