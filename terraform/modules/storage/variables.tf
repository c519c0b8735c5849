variable "bucket_name" {
  description = "Globally unique bucket name, e.g. rates-staging-123456789012."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 lowercase letters, digits, dots and hyphens."
  }
}

variable "expire_after_days" {
  description = "Days after which staged payloads and dropped files are deleted."
  type        = number

  validation {
    condition     = var.expire_after_days >= 1
    error_message = "expire_after_days must be at least 1."
  }
}

variable "noncurrent_version_expire_days" {
  description = "Days overwritten or deleted object versions are kept."
  type        = number

  validation {
    condition     = var.noncurrent_version_expire_days >= 1
    error_message = "noncurrent_version_expire_days must be at least 1."
  }
}

variable "drop_prefix" {
  description = "Key prefix whose new objects are announced to the queue."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]+/$", var.drop_prefix))
    error_message = "drop_prefix must end with / and hold only letters, digits and ._-/."
  }
}

variable "producer_role_arns" {
  description = "IAM role ARNs that may put objects under drop_prefix; everyone else is denied (empty: drops are closed)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.producer_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", a))])
    error_message = "producer_role_arns must be IAM role ARNs (arn:aws:iam::ACCOUNT:role/NAME)."
  }
}

variable "queue_arn" {
  description = "Queue receiving object-created notifications (its policy must allow this bucket)."
  type        = string
}

variable "force_destroy" {
  description = "Allow destroying the bucket while it still holds objects."
  type        = bool
}

variable "kms_key_arn" {
  description = "KMS key for default encryption."
  type        = string
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}
