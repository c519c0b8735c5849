output "certificate_arn" {
  description = "The api's certificate once ACM has issued it (null without request_certificate)."
  value       = var.request_certificate ? aws_acm_certificate_validation.api[0].certificate_arn : null
}

output "web_acl_arn" {
  description = "ARN of the WAF web ACL (null without waf_enabled)."
  value       = var.waf_enabled ? aws_wafv2_web_acl.api[0].arn : null
}
