variable "name" {
  description = "Stem of the resource names, e.g. rates-production."
  type        = string
}

variable "request_certificate" {
  description = "Request an ACM certificate for domain_name and validate it in zone_id."
  type        = bool
}

variable "domain_name" {
  description = "The api's DNS name (the certificate's only name)."
  type        = string
  default     = null

  validation {
    condition     = var.domain_name == null || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z0-9-]{2,63}$", var.domain_name))
    error_message = "domain_name must be a lowercase DNS name like rates.example.com."
  }
}

variable "zone_id" {
  description = "Route 53 public hosted zone that holds domain_name (the validation record goes there)."
  type        = string
  default     = null
}

variable "waf_enabled" {
  description = "Create the WAF web ACL (the Ingress associates it with the load balancer)."
  type        = bool
}

variable "waf_requests_per_5_minutes" {
  description = "Requests one client IP may send in any 5 minutes before WAF blocks it."
  type        = number
  default     = 3000

  validation {
    condition     = var.waf_requests_per_5_minutes >= 10 && var.waf_requests_per_5_minutes <= 2000000000
    error_message = "waf_requests_per_5_minutes must be between 10 and 2000000000 (AWS WAF's limits)."
  }
}

variable "log_retention_days" {
  description = "Days to keep WAF logs."
  type        = number
}

variable "kms_key_arn" {
  description = "KMS key of the WAF log group (the environment's key)."
  type        = string
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}
