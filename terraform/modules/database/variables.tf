variable "name" {
  description = "Name prefix of every resource, e.g. rates-staging."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the database's security group."
  type        = string
}

variable "subnet_ids" {
  description = "Database subnets (at least two zones)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "An RDS subnet group needs subnets in at least two availability zones."
  }
}

variable "allowed_security_groups" {
  description = "Security groups allowed to connect on 5432, by a name fixed in the configuration (e.g. cluster = the EKS cluster's group); the ids may be unknown until apply."
  type        = map(string)
}

variable "engine_version" {
  description = "PostgreSQL version MAJOR.MINOR (major 14 to 17)."
  type        = string

  validation {
    condition     = can(regex("^1[4-7]\\.[0-9]+$", var.engine_version))
    error_message = "engine_version must be MAJOR.MINOR with major 14 to 17."
  }
}

variable "instance_class" {
  description = "RDS instance class of the primary and the replicas, e.g. db.r6g.large."
  type        = string

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.instance_class))
    error_message = "instance_class must look like db.r6g.large."
  }
}

variable "database_name" {
  description = "Name of the database the runtime uses."
  type        = string
  default     = "rates"
}

variable "master_username" {
  description = "Master user name (its generated password is kept in the module's Secrets Manager secret)."
  type        = string
  default     = "rates_admin"
}

variable "iam_username" {
  description = "Database user the runtime signs in as with IAM authentication (created by the migrations, granted rds_iam)."
  type        = string
  default     = "rates_app"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,62}$", var.iam_username))
    error_message = "iam_username must be a lowercase PostgreSQL identifier."
  }
}

variable "allocated_storage_gib" {
  description = "Initial storage in GiB."
  type        = number

  validation {
    condition     = var.allocated_storage_gib >= 20 && var.allocated_storage_gib <= 65536
    error_message = "allocated_storage_gib must be between 20 and 65536."
  }
}

variable "max_allocated_storage_gib" {
  description = "Storage autoscaling ceiling in GiB."
  type        = number
}

variable "multi_az" {
  description = "Run a synchronous standby in a second zone (automatic failover)."
  type        = bool
}

variable "read_replicas" {
  description = "Number of asynchronous read replicas (0 to 5)."
  type        = number

  validation {
    condition     = var.read_replicas >= 0 && var.read_replicas <= 5
    error_message = "read_replicas must be between 0 and 5."
  }
}

variable "backup_retention_days" {
  description = "Days of automated backups (0 to 35; replicas need at least 1)."
  type        = number

  validation {
    condition     = var.backup_retention_days >= 0 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 0 and 35."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the database until this is turned off."
  type        = bool
}

variable "final_snapshot" {
  description = "Take a final snapshot when the database is destroyed."
  type        = bool
}

variable "performance_insights" {
  description = "Enable Performance Insights (encrypted, 7 days)."
  type        = bool
}

variable "monitoring_interval_seconds" {
  description = "Enhanced monitoring interval; 0 turns it off."
  type        = number

  validation {
    condition     = contains([0, 1, 5, 10, 15, 30, 60], var.monitoring_interval_seconds)
    error_message = "monitoring_interval_seconds must be one of 0, 1, 5, 10, 15, 30, 60."
  }
}

variable "log_min_duration_ms" {
  description = "Log statements slower than this (milliseconds, -1: off)."
  type        = number
}

variable "kms_key_arn" {
  description = "KMS key for storage, the master credentials secret and Performance Insights."
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
