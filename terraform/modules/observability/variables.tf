variable "name" {
  description = "Name prefix of every resource, e.g. rates-staging."
  type        = string
}

variable "log_group_names" {
  description = "Full names of the log groups to create (e.g. /aws/containerinsights/<cluster>/application)."
  type        = list(string)
  default     = []
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the logs of log_group_names."
  type        = number

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the alarm topic."
  type        = list(string)
  default     = []
}

variable "key_deletion_window_days" {
  description = "Days a deleted KMS key can still be recovered."
  type        = number
  default     = 30

  validation {
    condition     = var.key_deletion_window_days >= 7 && var.key_deletion_window_days <= 30
    error_message = "key_deletion_window_days must be between 7 and 30."
  }
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}
