# GitHub Actions -> AWS without stored keys: the account's GitHub OIDC provider and two
# roles that only this repository's jobs, in the named GitHub environments, can assume.
#
#   deploy: deploy.yml (environments staging, production). Acts on <prefix>-* resources.
#   review: review.yml and review-gc.yml (environment review). Acts on <prefix>-review-*
#           resources, envctl-review-* marker stacks and envs/review-* state only.
#
# Names carry the environment (rates-<env>-...), so services whose resources have names
# are limited by name; EC2, load balancing, auto scaling and KMS resources have no
# names to match and are limited to the region (docs/review-stacks.md, "Access").

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  oidc_host = "token.actions.githubusercontent.com"

  oidc_provider_arn = var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : var.oidc_provider_arn

  # The state backend of `envctl bootstrap` (cli/bootstrap/state-backend.yaml).
  state_bucket = "envctl-tfstate-${local.account}-${var.region}"
  lock_table   = "envctl-tfstate-locks-${var.region}"

  # The `sub` claim of a job that runs in a GitHub environment is
  # repo:OWNER/NAME:environment:ENV; nothing else (other repositories, forks, branches
  # without the environment, pull_request jobs without it) matches.
  subjects = {
    deploy = [for env in var.deploy_environments : "repo:${var.github_repository}:environment:${env}"]
    review = ["repo:${var.github_repository}:environment:${var.review_environment}"]
  }

  scopes = {
    deploy = {
      names     = "${var.resource_prefix}-"
      state_key = "envs/*"
      stacks    = "envctl-*"
      # `envctl bootstrap` (and the first `envctl up`) creates the state backend.
      bootstrap = true
    }
    review = {
      names     = "${var.resource_prefix}-review-"
      state_key = "envs/review-*"
      stacks    = "envctl-review-*"
      bootstrap = false
    }
  }

  arn = {
    iam = "arn:${local.partition}:iam::${local.account}"
    reg = "${local.partition}:%s:${var.region}:${local.account}"
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

data "aws_iam_policy_document" "access" {
  for_each = local.scopes

  #checkov:skip=CKV_AWS_356: DescribeStacks/ListStacks (the review listing) and GetCallerIdentity only accept "*"; the name-less EC2/ELB/ASG/KMS calls are limited to the region.
  #checkov:skip=CKV_AWS_111: writes are limited by resource name where the service has names; EC2, ELB, auto scaling and KMS have none to match (see the header comment).
  #checkov:skip=CKV_AWS_109: IAM writes are limited to roles, policies and instance profiles named <prefix>-* (or <prefix>-review-*), which Terraform creates for EKS, IRSA and RDS monitoring.

  statement {
    sid       = "TerraformStateBucket"
    actions   = ["s3:ListBucket", "s3:GetBucketVersioning"]
    resources = ["arn:${local.partition}:s3:::${local.state_bucket}"]
  }

  statement {
    sid       = "TerraformStateObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["arn:${local.partition}:s3:::${local.state_bucket}/${each.value.state_key}"]
  }

  statement {
    sid       = "TerraformStateLocks"
    actions   = ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"]
    resources = ["arn:${format(local.arn.reg, "dynamodb")}:table/${local.lock_table}"]
  }

  # envctl's own stacks: the state backend (deploy only) and the review markers.
  statement {
    sid = "EnvctlStacks"
    actions = [
      "cloudformation:CreateStack",
      "cloudformation:UpdateStack",
      "cloudformation:DeleteStack",
      "cloudformation:DescribeStackEvents",
      "cloudformation:DescribeStackResources",
      "cloudformation:GetTemplate",
      "cloudformation:TagResource",
      "cloudformation:UpdateTerminationProtection",
    ]
    resources = ["arn:${format(local.arn.reg, "cloudformation")}:stack/${each.value.stacks}/*"]
  }

  # Every deploy compares the state backend stack with envctl's template.
  statement {
    sid       = "StateBackendStackRead"
    actions   = ["cloudformation:GetTemplate", "cloudformation:DescribeStackEvents"]
    resources = ["arn:${format(local.arn.reg, "cloudformation")}:stack/envctl-state-backend/*"]
  }

  # CloudFormation creates the backend with the caller's permissions (no service role).
  dynamic "statement" {
    for_each = each.value.bootstrap ? [1] : []
    content {
      sid = "StateBackendBucket"
      actions = [
        "s3:CreateBucket", "s3:GetBucketLocation", "s3:PutBucketVersioning", "s3:PutEncryptionConfiguration",
        "s3:GetEncryptionConfiguration", "s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock",
        "s3:PutBucketOwnershipControls", "s3:GetBucketOwnershipControls", "s3:PutLifecycleConfiguration",
        "s3:GetLifecycleConfiguration", "s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:PutBucketTagging",
        "s3:GetBucketTagging",
      ]
      resources = ["arn:${local.partition}:s3:::${local.state_bucket}"]
    }
  }

  dynamic "statement" {
    for_each = each.value.bootstrap ? [1] : []
    content {
      sid = "StateBackendLockTable"
      actions = [
        "dynamodb:CreateTable", "dynamodb:UpdateTable", "dynamodb:DescribeContinuousBackups",
        "dynamodb:UpdateContinuousBackups", "dynamodb:TagResource", "dynamodb:ListTagsOfResource",
        "dynamodb:DescribeTimeToLive",
      ]
      resources = ["arn:${format(local.arn.reg, "dynamodb")}:table/${local.lock_table}"]
    }
  }

  statement {
    sid       = "ListingAndIdentity"
    actions   = ["cloudformation:DescribeStacks", "cloudformation:ListStacks", "cloudformation:ValidateTemplate", "sts:GetCallerIdentity"]
    resources = ["*"]
  }

  statement {
    sid     = "NamedResources"
    actions = ["eks:*", "sqs:*", "sns:*", "s3:*", "rds:*", "cloudwatch:*", "logs:*"]
    resources = [
      "arn:${format(local.arn.reg, "eks")}:cluster/${each.value.names}*",
      "arn:${format(local.arn.reg, "eks")}:*/${each.value.names}*/*",
      "arn:${format(local.arn.reg, "sqs")}:${each.value.names}*",
      "arn:${format(local.arn.reg, "sns")}:${each.value.names}*",
      "arn:${local.partition}:s3:::${each.value.names}*",
      "arn:${format(local.arn.reg, "rds")}:*:${each.value.names}*",
      "arn:${format(local.arn.reg, "cloudwatch")}:alarm:${each.value.names}*",
      "arn:${local.partition}:cloudwatch::${local.account}:dashboard/${each.value.names}*",
      "arn:${format(local.arn.reg, "logs")}:log-group:*${each.value.names}*",
    ]
  }

  # Calls that take no resource (create, describe, list) for the same services.
  statement {
    sid = "NamedServicesUnscoped"
    actions = [
      "eks:ListClusters", "eks:DescribeAddonVersions",
      "rds:CreateDBSubnetGroup", "rds:Describe*", "rds:AddTagsToResource",
      "cloudwatch:DescribeAlarms", "cloudwatch:ListDashboards", "cloudwatch:GetMetricData",
      "logs:DescribeLogGroups", "sqs:ListQueues", "sns:ListTopics", "s3:ListAllMyBuckets",
    ]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.region]
    }
  }

  statement {
    sid       = "RegionalInfrastructure"
    actions   = ["ec2:*", "elasticloadbalancing:*", "autoscaling:*", "kms:*"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.region]
    }
  }

  # RDS-managed master passwords: readable only for this scope's database instances.
  statement {
    sid       = "DatabaseSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = ["arn:${format(local.arn.reg, "secretsmanager")}:secret:rds!*"]
    condition {
      test     = "StringLike"
      variable = "secretsmanager:ResourceTag/aws:rds:primaryDBInstanceArn"
      values   = ["arn:${format(local.arn.reg, "rds")}:db:${each.value.names}*"]
    }
  }

  statement {
    sid = "EnvironmentRoles"
    actions = [
      "iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:TagRole", "iam:UntagRole",
      "iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy",
      "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
      "iam:ListInstanceProfilesForRole", "iam:CreatePolicy", "iam:DeletePolicy", "iam:GetPolicy",
      "iam:GetPolicyVersion", "iam:CreatePolicyVersion", "iam:DeletePolicyVersion", "iam:ListPolicyVersions",
      "iam:TagPolicy", "iam:CreateInstanceProfile", "iam:DeleteInstanceProfile", "iam:GetInstanceProfile",
      "iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:TagInstanceProfile",
    ]
    resources = [
      "${local.arn.iam}:role/${each.value.names}*",
      "${local.arn.iam}:policy/${each.value.names}*",
      "${local.arn.iam}:instance-profile/${each.value.names}*",
    ]
  }

  statement {
    sid       = "PassEnvironmentRoles"
    actions   = ["iam:PassRole"]
    resources = ["${local.arn.iam}:role/${each.value.names}*"]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["eks.amazonaws.com", "ec2.amazonaws.com", "monitoring.rds.amazonaws.com"]
    }
  }

  # The IRSA provider of each EKS cluster (named by the cluster's issuer id, not by envctl).
  statement {
    sid = "ClusterOidcProviders"
    actions = [
      "iam:CreateOpenIDConnectProvider", "iam:DeleteOpenIDConnectProvider", "iam:GetOpenIDConnectProvider",
      "iam:TagOpenIDConnectProvider", "iam:UpdateOpenIDConnectProviderThumbprint",
    ]
    resources = ["${local.arn.iam}:oidc-provider/oidc.eks.${var.region}.amazonaws.com/*"]
  }

  statement {
    sid       = "ServiceLinkedRoles"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["${local.arn.iam}:role/aws-service-role/*"]
    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values = [
        "eks.amazonaws.com", "eks-nodegroup.amazonaws.com", "rds.amazonaws.com",
        "elasticloadbalancing.amazonaws.com", "autoscaling.amazonaws.com", "spot.amazonaws.com",
      ]
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
  name   = "envctl-deploy"
  role   = aws_iam_role.deploy.id
  policy = data.aws_iam_policy_document.access["deploy"].json
}

resource "aws_iam_role" "review" {
  name                 = var.review_role_name
  description          = "GitHub Actions review stacks (${var.github_repository}, environment ${var.review_environment})"
  assume_role_policy   = data.aws_iam_policy_document.trust["review"].json
  max_session_duration = var.max_session_hours * 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "review" {
  name   = "envctl-review"
  role   = aws_iam_role.review.id
  policy = data.aws_iam_policy_document.access["review"].json
}
