variable "name" {
  description = "Repository name, e.g. rates-staging."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", var.name)) && length(var.name) <= 256
    error_message = "name must be a valid ECR repository name (lowercase letters, digits, ._- separators, / for namespaces)."
  }
}

variable "kms_key_arn" {
  description = "KMS key the images are encrypted with."
  type        = string
}

variable "keep_images" {
  description = "How many of the newest images to keep; older ones expire (envctl rollback can only return to an image that is still here)."
  type        = number
  default     = 50

  validation {
    condition     = var.keep_images >= 10 && var.keep_images <= 1000
    error_message = "keep_images must be between 10 and 1000."
  }
}

variable "untagged_expire_days" {
  description = "Days after which untagged images (superseded or interrupted pushes) expire."
  type        = number
  default     = 7

  validation {
    condition     = var.untagged_expire_days >= 1
    error_message = "untagged_expire_days must be at least 1."
  }
}

variable "force_delete" {
  description = "Let `terraform destroy` delete the repository while it still holds images."
  type        = bool
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}
