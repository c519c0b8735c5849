variable "name" {
  description = "Name prefix of every resource, e.g. rates-staging."
  type        = string
}

variable "cluster_name" {
  description = "EKS cluster whose load balancers use these subnets (subnet discovery tags)."
  type        = string
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC, /16 to /20; each zone gets /4 subdivisions."
  type        = string

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "vpc_cidr must be an IPv4 CIDR with a prefix from /16 to /20."
  }
}

variable "az_count" {
  description = "Number of availability zones (2 or 3; EKS needs at least 2)."
  type        = number

  validation {
    condition     = contains([2, 3], var.az_count)
    error_message = "az_count must be 2 or 3."
  }
}

variable "nat" {
  description = "NAT layout: per_az (one gateway per zone, survives a zone outage) or single."
  type        = string

  validation {
    condition     = contains(["per_az", "single"], var.nat)
    error_message = "nat must be per_az or single."
  }
}

variable "flow_log_retention_days" {
  description = "Days to keep VPC flow logs."
  type        = number

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be a retention CloudWatch Logs accepts."
  }
}

variable "kms_key_arn" {
  description = "KMS key encrypting the flow log group."
  type        = string
}

variable "permissions_boundary_arn" {
  description = "ARN of the managed policy every IAM role this module creates carries as its permissions boundary (terraform/modules/github_oidc's envctl-environment-boundary). The CI roles may create roles only with it, and a role can never do more than it allows, whatever policy the role is given."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:policy/[A-Za-z0-9+=,.@_/-]+$", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn must be the ARN of an IAM managed policy (arn:PARTITION:iam::ACCOUNT:policy/NAME)."
  }
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}
