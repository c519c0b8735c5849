variable "name" {
  description = "Cluster name and name prefix of every resource, e.g. rates-staging."
  type        = string
}

variable "kubernetes_version" {
  description = "EKS Kubernetes minor version, e.g. 1.32."
  type        = string

  validation {
    condition     = can(regex("^1\\.(29|3[0-4])$", var.kubernetes_version))
    error_message = "kubernetes_version must be an EKS version from 1.29 to 1.34."
  }
}

variable "subnet_ids" {
  description = "Private subnets (at least two zones) for the control plane's interfaces and the nodes."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "EKS needs subnets in at least two availability zones."
  }
}

variable "endpoint_public_access" {
  description = "Whether the API endpoint is reachable from outside the VPC."
  type        = bool
}

variable "public_access_cidrs" {
  description = "CIDRs allowed to reach the public API endpoint."
  type        = list(string)
  default     = []
}

variable "node_groups" {
  description = "Managed node groups by name: capacity (on_demand or spot), instance types, sizes, disk."
  type = map(object({
    capacity       = string
    instance_types = list(string)
    min            = number
    desired        = number
    max            = number
    disk_gib       = number
  }))

  validation {
    condition     = alltrue([for g in values(var.node_groups) : contains(["on_demand", "spot"], g.capacity)])
    error_message = "Each node group's capacity must be on_demand or spot."
  }

  validation {
    condition     = alltrue([for g in values(var.node_groups) : g.min <= g.desired && g.desired <= g.max])
    error_message = "Each node group needs min <= desired <= max."
  }
}

variable "admin_principals" {
  description = "IAM roles and users that administer the cluster (access entry + AmazonEKSClusterAdminPolicy), by a key fixed in the configuration (the profile's ARN or name), so for_each is known at plan."
  type        = map(string)

  validation {
    condition     = length(var.admin_principals) > 0
    error_message = "admin_principals must name at least one principal; without one nobody can reach the cluster."
  }

  validation {
    condition     = alltrue([for a in values(var.admin_principals) : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", a))])
    error_message = "Each admin principal must be an IAM role or user ARN (arn:aws:iam::ACCOUNT:role/NAME); assumed-role session ARNs are not accepted by EKS."
  }
}

variable "view_principals" {
  description = "IAM roles and users that may only read the cluster (access entry + AmazonEKSAdminViewPolicy, cluster scope), e.g. the drift workflow's read-only role; keyed like admin_principals."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for a in values(var.view_principals) : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", a))])
    error_message = "Each view principal must be an IAM role or user ARN (arn:aws:iam::ACCOUNT:role/NAME)."
  }
}

variable "workload_roles" {
  description = "IAM roles for service accounts (IRSA), by role suffix: namespace, service account, inline policy JSON."
  type = map(object({
    namespace       = string
    service_account = string
    policy_json     = string
  }))
  default = {}
}

variable "container_insights" {
  description = "Install the CloudWatch Observability add-on (container logs, Container Insights metrics)."
  type        = bool
  default     = true
}

variable "addon_versions" {
  description = "Exact versions of EKS managed add-ons by name (e.g. vpc-cni = v1.19.2-eksbuild.1); unlisted add-ons get AWS's default for the cluster's version."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.addon_versions) : contains(["vpc-cni", "kube-proxy", "coredns", "amazon-cloudwatch-observability"], k)])
    error_message = "addon_versions keys must be vpc-cni, kube-proxy, coredns or amazon-cloudwatch-observability."
  }
}

variable "kms_key_arn" {
  description = "KMS key for Kubernetes secrets and the control-plane log group."
  type        = string
}

variable "log_retention_days" {
  description = "Days to keep control-plane logs."
  type        = number

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts."
  }
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
