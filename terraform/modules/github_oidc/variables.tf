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

variable "drift_environments" {
  description = "GitHub environments whose jobs may assume the read-only drift role (drift.yml). No required reviewers: the role changes nothing."
  type        = list(string)
  default     = ["drift-staging", "drift-production"]

  validation {
    condition     = length(var.drift_environments) > 0 && alltrue([for e in var.drift_environments : can(regex("^[A-Za-z0-9_.-]+$", e))])
    error_message = "The drift_environments must be a non-empty list of GitHub environment names (letters, digits, _ . -)."
  }
}

variable "drift_role_name" {
  description = "Name of the read-only role drift.yml assumes."
  type        = string
  default     = "envctl-github-drift"
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
  # The rendered roots read the boundary by this default name (templates/terraform/main.tf.j2,
  # data "aws_iam_policy" "permissions_boundary"); .ci/checks/deploy_permissions.sh checks
  # they agree. Change both together.
  description = "Name of the managed policy every role created for an environment must carry as its permissions boundary (the environment modules' permissions_boundary_arn). The rendered roots look it up by this name."
  type        = string
  default     = "envctl-environment-boundary"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,128}$", var.permissions_boundary_name))
    error_message = "The permissions_boundary_name must be an IAM policy name (letters, digits, +=,.@_-)."
  }
}

variable "image_repositories" {
  description = "ECR repositories of the runtime image (ecr.tf), by the role that pushes to them: deploy, one per deployed environment (the profile's runtime.image.ecr_repository, default rates-<env>); review, the one every review stack shares (review.yaml)."
  type        = map(list(string))
  default = {
    deploy = ["rates-staging", "rates-production"]
    review = ["rates-review"]
  }

  validation {
    condition = (
      length(setsubtract(keys(var.image_repositories), ["deploy", "review"])) == 0 &&
      alltrue([for role in ["deploy", "review"] : length(lookup(var.image_repositories, role, [])) > 0]) &&
      alltrue([for r in flatten(values(var.image_repositories)) : can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", r)) && length(r) <= 256])
    )
    error_message = "The image_repositories must have exactly the keys deploy and review, each a non-empty list of ECR repository names (lowercase letters and digits joined by . _ -, / between path parts)."
  }
}

variable "image_kms_key_arn" {
  description = "Customer-managed KMS key the image repositories are encrypted with; null: ECR's AWS-managed key (aws/ecr)."
  type        = string
  default     = null

  validation {
    condition     = var.image_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.image_kms_key_arn))
    error_message = "The image_kms_key_arn must be a KMS key ARN or null."
  }
}

variable "image_keep_tagged" {
  description = "How many of the newest tagged images each repository keeps; older ones expire (envctl rollback can only return to an image that is still there)."
  type        = number
  default     = 50

  validation {
    condition     = var.image_keep_tagged >= 10 && var.image_keep_tagged <= 10000
    error_message = "The image_keep_tagged must be between 10 and 10000."
  }
}

variable "image_untagged_expire_days" {
  description = "Days after which untagged images (interrupted or superseded pushes) expire."
  type        = number
  default     = 7

  validation {
    condition     = var.image_untagged_expire_days >= 1
    error_message = "The image_untagged_expire_days must be at least 1."
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
  description = "Tags for the roles, the boundary policy, the image repositories and the OIDC provider."
  type        = map(string)
  default     = {}
}
