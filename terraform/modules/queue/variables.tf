variable "name" {
  description = "Name of the queue; the dead-letter queue is <name>-dlq."
  type        = string
}

variable "visibility_timeout_seconds" {
  description = "How long a received batch message stays invisible (must exceed the worker's drain timeout)."
  type        = number

  validation {
    condition     = var.visibility_timeout_seconds >= 0 && var.visibility_timeout_seconds <= 43200
    error_message = "visibility_timeout_seconds must be between 0 and 43200."
  }
}

variable "message_retention_seconds" {
  description = "How long an unprocessed message is kept."
  type        = number

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "message_retention_seconds must be between 60 and 1209600."
  }
}

variable "dlq_max_receive_count" {
  description = "Receives after which a message moves to the dead-letter queue."
  type        = number

  validation {
    condition     = var.dlq_max_receive_count >= 1 && var.dlq_max_receive_count <= 1000
    error_message = "dlq_max_receive_count must be between 1 and 1000."
  }
}

variable "dlq_retention_seconds" {
  description = "How long dead-lettered messages are kept."
  type        = number

  validation {
    condition     = var.dlq_retention_seconds >= 60 && var.dlq_retention_seconds <= 1209600
    error_message = "dlq_retention_seconds must be between 60 and 1209600."
  }
}

variable "notification_source_arns" {
  description = "S3 bucket ARNs allowed to send event notifications to the queue."
  type        = list(string)
  default     = []
}

variable "kms_key_arn" {
  description = "KMS key encrypting both queues."
  type        = string
}

variable "webhook_secret_name" {
  description = "Name of the Secrets Manager secret holding the key batch outcome webhooks are signed with (its value is put by envctl up, never by Terraform); null: the environment has no webhook and no such secret."
  type        = string
  default     = null
}

variable "secret_recovery_window_days" {
  description = "Days a deleted webhook secret can be restored (0 deletes it at once, so a review stack of the same name can be created again)."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or between 7 and 30 (Secrets Manager's limits)."
  }
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}
