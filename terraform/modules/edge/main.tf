# The api's edge in front of the load balancer that the AWS Load Balancer Controller
# creates from the api's Ingress (after Terraform, so nothing here names the load balancer):
#
# - the ACM certificate of the api's name, DNS-validated in the environment's Route 53
#   zone; the Ingress names it (certificate-arn) once it is issued;
# - an AWS WAF web ACL (REGIONAL, as a load balancer's must be): a per-client-IP rate
#   limit and AWS's managed rule groups; the Ingress associates it (wafv2-acl-arn), and
#   its logs go to CloudWatch Logs without the Authorization header.
#
# The api's DNS record is external-dns's (terraform/modules/addons): it follows the load
# balancer the controller makes, including for review stacks created and torn down per
# pull request.

# ---------------------------------------------------------------------------- certificate

resource "aws_acm_certificate" "api" {
  count             = var.request_certificate ? 1 : 0
  domain_name       = var.domain_name
  validation_method = "DNS"
  tags              = merge(var.tags, { Name = var.domain_name })

  options {
    certificate_transparency_logging_preference = "ENABLED"
  }

  # A changed name gets its new certificate before the old one is deleted (the listener
  # still uses it until the Ingress names the new one).
  lifecycle {
    create_before_destroy = true
  }
}

# One name, no alternative names: one validation record. Indexed (not for_each over the
# certificate's validation options) so the record's address is known at plan.
resource "aws_route53_record" "validation" {
  count           = var.request_certificate ? 1 : 0
  zone_id         = var.zone_id
  name            = one(aws_acm_certificate.api[0].domain_validation_options).resource_record_name
  type            = one(aws_acm_certificate.api[0].domain_validation_options).resource_record_type
  records         = [one(aws_acm_certificate.api[0].domain_validation_options).resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

# Waits until ACM has issued the certificate, so the Ingress never names one the load
# balancer cannot use yet.
resource "aws_acm_certificate_validation" "api" {
  count                   = var.request_certificate ? 1 : 0
  certificate_arn         = aws_acm_certificate.api[0].arn
  validation_record_fqdns = [aws_route53_record.validation[0].fqdn]
}

# ---------------------------------------------------------------------------- WAF

locals {
  # The web ACL's rules as the WAF API's Rule objects, in evaluation order.
  waf_rules = [
    # First: a client IP over the limit is blocked, with 429 (the runtime's own status
    # for too many requests), until its rate falls back under it.
    {
      Name     = "rate-limit-per-ip"
      Priority = 10
      Action   = { Block = { CustomResponse = { ResponseCode = 429 } } }
      Statement = {
        RateBasedStatement = {
          Limit               = var.waf_requests_per_5_minutes
          EvaluationWindowSec = 300
          AggregateKeyType    = "IP"
        }
      }
      VisibilityConfig = local.visibility["rate-limit"]
    },
    # OWASP-style protections: bad bots' user agents, path traversal, SSRF to the metadata
    # address, XSS and LFI/RFI patterns (in the first 8 KiB of the body), oversized parts.
    # Batches are uploaded as one large body (up to runtime.max_batch_bytes): the rule
    # that blocks bodies over 8 KiB only counts, so uploads pass and still show in the
    # metrics. The runtime enforces its own body limits.
    {
      Name           = "AWSManagedRulesCommonRuleSet"
      Priority       = 20
      OverrideAction = { None = {} }
      Statement = {
        ManagedRuleGroupStatement = {
          VendorName          = "AWS"
          Name                = "AWSManagedRulesCommonRuleSet"
          RuleActionOverrides = [{ Name = "SizeRestrictions_BODY", ActionToUse = { Count = {} } }]
        }
      }
      VisibilityConfig = local.visibility["common"]
    },
    # Request patterns of known exploits: Log4Shell (Log4j JNDI lookups, rule Log4JRCE),
    # Java deserialisation, Host: localhost, exploitable paths. Nothing overridden.
    {
      Name           = "AWSManagedRulesKnownBadInputsRuleSet"
      Priority       = 30
      OverrideAction = { None = {} }
      Statement = {
        ManagedRuleGroupStatement = { VendorName = "AWS", Name = "AWSManagedRulesKnownBadInputsRuleSet" }
      }
      VisibilityConfig = local.visibility["known-bad-inputs"]
    },
    # Addresses Amazon threat intelligence sees attacking (bots, reconnaissance, DDoS).
    {
      Name           = "AWSManagedRulesAmazonIpReputationList"
      Priority       = 40
      OverrideAction = { None = {} }
      Statement = {
        ManagedRuleGroupStatement = { VendorName = "AWS", Name = "AWSManagedRulesAmazonIpReputationList" }
      }
      VisibilityConfig = local.visibility["ip-reputation"]
    },
  ]

  visibility = {
    for m in ["rate-limit", "common", "known-bad-inputs", "ip-reputation"] : m => {
      CloudWatchMetricsEnabled = true
      MetricName               = "${var.name}-${m}"
      SampledRequestsEnabled   = true
    }
  }
}

resource "aws_wafv2_web_acl" "api" {
  # checkov:skip=CKV_AWS_192:the rules are in rule_json, which this check does not read; AWSManagedRulesKnownBadInputsRuleSet (Log4JRCE included, nothing overridden) is rule 30, asserted by cli/tests/render_edge.rs
  # checkov:skip=CKV_AWS_175:the rules are in rule_json, which this check does not read: a rate limit and three AWS managed rule groups
  count       = var.waf_enabled ? 1 : 0
  name        = var.name
  description = "${var.name}: rate limit per client IP and AWS managed rules in front of the api"
  scope       = "REGIONAL"
  tags        = var.tags

  # The rules as the WAF API's JSON rather than nested `rule` blocks: rule statements nest
  # deeper than the offline stand-ins of the provider's schema (.ci/schema, .ci/terraform)
  # can describe, and rule_json is the provider's own argument for them. The provider
  # does not compare rules changed outside Terraform with it (no drift detection): change
  # the web ACL only here.
  rule_json = jsonencode(local.waf_rules)

  default_action {
    allow {}
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = var.name
    sampled_requests_enabled   = true
  }
}

# WAF delivers logs only to log groups whose names start with aws-waf-logs-.
resource "aws_cloudwatch_log_group" "waf" {
  count             = var.waf_enabled ? 1 : 0
  name              = "aws-waf-logs-${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_wafv2_web_acl_logging_configuration" "api" {
  count                   = var.waf_enabled ? 1 : 0
  resource_arn            = aws_wafv2_web_acl.api[0].arn
  log_destination_configs = [aws_cloudwatch_log_group.waf[0].arn]

  # Bearer tokens travel in this header: they never reach a log.
  redacted_fields {
    single_header {
      name = "authorization"
    }
  }
}
