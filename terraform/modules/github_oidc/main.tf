# GitHub Actions -> AWS without stored keys: the account's GitHub OIDC provider and two
# roles that only this repository's jobs, in the named GitHub environments, can assume.
#
#   deploy: deploy.yml (environments staging, production). Acts on <prefix>-* resources.
#   review: review.yml and review-gc.yml (environment review). Acts on <prefix>-review-*
#           resources, envctl-review-* marker stacks and envs/review-* state only.
#   drift:  drift.yml (environments drift-staging, drift-production). Reads only.
#
# Names carry the environment (rates-<env>-...), so services whose resources have names
# are limited by name; EC2, load balancing, auto scaling and KMS resources have no
# names to match and are limited to the region (docs/review-stacks.md, "Access").
# Every role the two roles create must carry the permissions boundary below, so neither
# can make a role that does more than the boundary allows. The policies themselves are
# in policies.tf. The runtime's image repositories are made here too (ecr.tf), so CI can
# push an image before an environment's first deploy.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  oidc_host = "token.actions.githubusercontent.com"

  oidc_provider_arn = var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : var.oidc_provider_arn

  # The `sub` claim of a job that runs in a GitHub environment is
  # repo:OWNER/NAME:environment:ENV; nothing else (other repositories, forks, branches
  # without the environment, pull_request jobs without it) matches.
  subjects = {
    deploy = [for env in var.deploy_environments : "repo:${var.github_repository}:environment:${env}"]
    review = ["repo:${var.github_repository}:environment:${var.review_environment}"]
    drift  = [for env in var.drift_environments : "repo:${var.github_repository}:environment:${env}"]
  }
}

resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 1 : 0

  url            = "https://${local.oidc_host}"
  client_id_list = ["sts.amazonaws.com"]
  # AWS validates GitHub's certificate through its own trust store; the list is still
  # required by older provider versions.
  thumbprint_list = [
    "6938fd4d98bab03faadb97b34396831e3780aea1",
    "1c58a3a8518e8759bf075b76b750d4f2df264fcd",
  ]
  tags = var.tags
}

data "aws_iam_policy_document" "trust" {
  for_each = local.subjects

  statement {
    sid     = "GitHubActionsOidc"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:sub"
      values   = each.value
    }
  }
}

resource "aws_iam_role" "deploy" {
  name                 = var.deploy_role_name
  description          = "GitHub Actions deploys (${var.github_repository}, environments ${join(", ", var.deploy_environments)})"
  assume_role_policy   = data.aws_iam_policy_document.trust["deploy"].json
  max_session_duration = var.max_session_hours * 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "deploy" {
  #checkov:skip=CKV_AWS_290: writes are limited by resource name where the service has names; EC2, ELB, auto scaling and KMS have none to match and are limited to the region (see the header comment).
  #checkov:skip=CKV_AWS_355: DescribeStacks/ListStacks, GetCallerIdentity, ecr:GetAuthorizationToken and the name-less EC2/ELB/ASG/KMS calls only accept "*"; all but the first two are limited to the region.
  #checkov:skip=CKV_AWS_289: IAM writes are limited to <prefix>-* roles, policies and instance profiles, and role permissions only to roles that carry the permissions boundary.
  #checkov:skip=CKV_AWS_287: credentials exposure: ecr:GetAuthorizationToken is how CI pushes the runtime image (registry-scoped, 12 hours).
  name   = "envctl-deploy"
  role   = aws_iam_role.deploy.id
  policy = local.access_policies["deploy"]
}

resource "aws_iam_role" "review" {
  name                 = var.review_role_name
  description          = "GitHub Actions review stacks (${var.github_repository}, environment ${var.review_environment})"
  assume_role_policy   = data.aws_iam_policy_document.trust["review"].json
  max_session_duration = var.max_session_hours * 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "review" {
  #checkov:skip=CKV_AWS_290: as for the deploy role, limited to <prefix>-review-* names or to the region.
  #checkov:skip=CKV_AWS_355: as for the deploy role: only "*" is accepted by those calls.
  #checkov:skip=CKV_AWS_289: as for the deploy role: <prefix>-review-* IAM only, role permissions only with the boundary.
  #checkov:skip=CKV_AWS_287: as for the deploy role: ecr:GetAuthorizationToken pushes the review image.
  name   = "envctl-review"
  role   = aws_iam_role.review.id
  policy = local.access_policies["review"]
}

# `envctl drift`: a Terraform refresh-only plan reads every resource type the roots use,
# which is what AWS's ReadOnlyAccess covers; it grants no secret values, and refreshing a
# secret version needs one, so those of this project's secrets are added. `drift` runs
# terraform with -lock=false and writes nothing, so no write of any kind is granted.
resource "aws_iam_role" "drift" {
  name                 = var.drift_role_name
  description          = "GitHub Actions drift reports (${var.github_repository}, environments ${join(", ", var.drift_environments)}); read-only"
  assume_role_policy   = data.aws_iam_policy_document.trust["drift"].json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "drift_read_only" {
  role       = aws_iam_role.drift.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/ReadOnlyAccess"
}

data "aws_iam_policy_document" "drift_secrets" {
  statement {
    sid       = "RefreshSecretVersions"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["arn:${local.partition}:secretsmanager:${var.region}:${local.account}:secret:${var.resource_prefix}-*"]
  }
}

resource "aws_iam_role_policy" "drift_secrets" {
  name   = "envctl-drift-secrets"
  role   = aws_iam_role.drift.id
  policy = data.aws_iam_policy_document.drift_secrets.json
}

# The permissions boundary of every role the deploy and review roles create
# (permissions_boundary on each aws_iam_role of the environment modules).
resource "aws_iam_policy" "boundary" {
  #checkov:skip=CKV_AWS_290: a boundary is a ceiling, not a grant: EC2, ELB and auto scaling resources have no names to match and are limited to the region.
  #checkov:skip=CKV_AWS_355: PutMetricData, GetAuthorizationToken, the controllers' Describe/List calls and the other "*"-only calls are limited to the region.
  #checkov:skip=CKV_AWS_289: the only IAM write is CreateServiceLinkedRole, for the services listed in its condition.
  name        = var.permissions_boundary_name
  description = "Permissions boundary of every role envctl's CI roles create (${var.resource_prefix}-* environments)."
  policy      = local.boundary_policy
  tags        = var.tags
}
