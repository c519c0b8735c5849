variable "github_repository" {
  description = "The repository allowed to assume the roles, as OWNER/NAME (e.g. example-org/rates)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$", var.github_repository))
    error_message = "The github_repository must be OWNER/NAME, e.g. example-org/rates."
  }
}

variable "create_oidc_provider" {
  description = "Create the account's token.actions.githubusercontent.com OIDC provider. An account has at most one; set false and pass oidc_provider_arn when it already exists."
  type        = bool
  default     = true
}

variable "oidc_provider_arn" {
  description = "The existing GitHub OIDC provider's ARN, used when create_oidc_provider is false."
  type        = string
  default     = null

  validation {
    condition     = var.oidc_provider_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.oidc_provider_arn))
    error_message = "The oidc_provider_arn must be the ARN of the token.actions.githubusercontent.com OIDC provider."
  }
}

variable "deploy_environments" {
  description = "GitHub environments whose jobs may assume the deploy role (deploy.yml). Restrict each to the main branch and give production required reviewers in the repository settings."
  type        = list(string)
  default     = ["staging", "production"]

  validation {
    condition     = length(var.deploy_environments) > 0 && alltrue([for e in var.deploy_environments : can(regex("^[A-Za-z0-9_.-]+$", e))])
    error_message = "The deploy_environments must be a non-empty list of GitHub environment names (letters, digits, _ . -)."
  }
}

variable "review_environment" {
  description = "The GitHub environment whose jobs may assume the review role (review.yml, review-gc.yml)."
  type        = string
  default     = "review"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.review_environment))
    error_message = "The review_environment must be a GitHub environment name (letters, digits, _ . -)."
  }
}

variable "region" {
  description = "The only AWS region the roles may act in (besides global IAM)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "The region must be an AWS region name such as eu-west-1."
  }
}

variable "resource_prefix" {
  description = "The prefix of every name envctl gives AWS resources (`rates` gives rates-<env>-...). The review role is limited to <prefix>-review-*."
  type        = string
  default     = "rates"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,20}$", var.resource_prefix))
    error_message = "The resource_prefix must be lowercase letters, digits and -, at most 21 characters."
  }
}

variable "deploy_role_name" {
  description = "Name of the role deploy.yml assumes."
  type        = string
  default     = "envctl-github-deploy"
}

variable "review_role_name" {
  description = "Name of the role review.yml and review-gc.yml assume."
  type        = string
  default     = "envctl-github-review"
}

variable "permissions_boundary_name" {
  description = "Name of the managed policy every role created for an environment must carry as its permissions boundary (the environment modules' permissions_boundary_arn)."
  type        = string
  default     = "envctl-environment-boundary"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,128}$", var.permissions_boundary_name))
    error_message = "The permissions_boundary_name must be an IAM policy name (letters, digits, +=,.@_-)."
  }
}

variable "max_session_hours" {
  description = "Longest session a workflow may request (an EKS + RDS environment takes most of an hour to create; a gc run may tear down several)."
  type        = number
  default     = 4

  validation {
    condition     = var.max_session_hours >= 1 && var.max_session_hours <= 12
    error_message = "The max_session_hours must be between 1 and 12."
  }
}

variable "tags" {
  description = "Tags for the roles and the OIDC provider."
  type        = map(string)
  default     = {}
}
