# The permissions of the two roles and the permissions boundary of every role they
# create, as plain values (jsonencode) built from variables and two locals (account,
# partition). Nothing here reads a data source, so .ci/checks/deploy_permissions.sh
# evaluates these exact documents with Terraform alone (no AWS provider, no account)
# and checks them against what every rendered environment needs.

locals {
  # The state backend of `envctl bootstrap` (cli/bootstrap/state-backend.yaml).
  state_bucket = "envctl-tfstate-${local.account}-${var.region}"
  lock_table   = "envctl-tfstate-locks-${var.region}"

  scopes = {
    deploy = {
      names     = "${var.resource_prefix}-"
      state_key = "envs/*"
      # envctl's release history and per-environment deploy lock (docs/operations.md).
      envctl_keys = ["envctl/releases/*", "envctl/locks/*"]
      stacks      = "envctl-*"
      # `envctl bootstrap` (and the first `envctl up`) creates the state backend.
      bootstrap = true
      # The image repositories (ecr.tf) of the deployed environments.
      repositories = lookup(var.image_repositories, "deploy", [])
    }
    review = {
      names       = "${var.resource_prefix}-review-"
      state_key   = "envs/review-*"
      envctl_keys = ["envctl/releases/review-*", "envctl/locks/review-*"]
      stacks      = "envctl-review-*"
      bootstrap   = false
      # The review stacks' shared image repository (review.yaml's runtime.image.ecr_repository).
      repositories = lookup(var.image_repositories, "review", [])
    }
  }

  arn = {
    iam = "arn:${local.partition}:iam::${local.account}"
    reg = "${local.partition}:%s:${var.region}:${local.account}"
  }

  # Every role Terraform creates for an environment must carry this boundary; the roles'
  # IAM writes below are allowed only with it. Not named <prefix>-*, so no statement that
  # manages environment policies can touch it.
  boundary_arn = "${local.arn.iam}:policy/${var.permissions_boundary_name}"

  in_region = { StringEquals = { "aws:RequestedRegion" = var.region } }

  # AWS services the roles may hand environment roles to (iam:PassRole):
  #   eks (cluster role), ec2 (node instance profiles), eks-nodegroup is covered by eks,
  #   vpc-flow-logs (aws_flow_log's delivery role), monitoring.rds (enhanced monitoring),
  #   pods.eks (EKS Pod Identity associations).
  passed_to_services = [
    "eks.amazonaws.com",
    "ec2.amazonaws.com",
    "vpc-flow-logs.amazonaws.com",
    "monitoring.rds.amazonaws.com",
    "pods.eks.amazonaws.com",
  ]

  service_linked_roles = [
    "eks.amazonaws.com", "eks-nodegroup.amazonaws.com", "rds.amazonaws.com",
    "elasticloadbalancing.amazonaws.com", "autoscaling.amazonaws.com", "spot.amazonaws.com",
  ]

  # Reading and pushing images of the image repositories this module creates (ecr.tf):
  # CI's image job and production's promotion (deploy.yml), and the roots'
  # `data "aws_ecr_repository"`. The repositories themselves (their policies, lifecycle,
  # deletion) are the account setup's: neither role can change or delete them.
  ecr_actions = [
    "ecr:DescribeRepositories", "ecr:ListTagsForResource",
    "ecr:DescribeImages", "ecr:ListImages", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
    "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload", "ecr:PutImage",
  ]

  # A Terraform-managed secret per environment (the database master credentials),
  # named <prefix>-<env>/..., read by envctl and the migration Job.
  secret_actions = [
    "secretsmanager:CreateSecret", "secretsmanager:DeleteSecret", "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecret",
    "secretsmanager:GetResourcePolicy", "secretsmanager:TagResource", "secretsmanager:UntagResource",
    "secretsmanager:ListSecretVersionIds", "secretsmanager:RestoreSecret", "secretsmanager:UpdateSecretVersionStage",
  ]

  access_statements = {
    for role, s in local.scopes : role => concat(
      [
        {
          Sid      = "TerraformStateBucket"
          Effect   = "Allow"
          Action   = ["s3:ListBucket", "s3:GetBucketVersioning"]
          Resource = "arn:${local.partition}:s3:::${local.state_bucket}"
        },
        {
          Sid      = "TerraformStateObjects"
          Effect   = "Allow"
          Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
          Resource = "arn:${local.partition}:s3:::${local.state_bucket}/${s.state_key}"
        },
        {
          Sid      = "ReleasesAndDeployLocks"
          Effect   = "Allow"
          Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
          Resource = [for k in s.envctl_keys : "arn:${local.partition}:s3:::${local.state_bucket}/${k}"]
        },
        {
          Sid      = "TerraformStateLocks"
          Effect   = "Allow"
          Action   = ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"]
          Resource = "arn:${format(local.arn.reg, "dynamodb")}:table/${local.lock_table}"
        },
        # envctl's own stacks: the state backend (deploy only) and the review markers.
        {
          Sid    = "EnvctlStacks"
          Effect = "Allow"
          Action = [
            "cloudformation:CreateStack", "cloudformation:UpdateStack", "cloudformation:DeleteStack",
            "cloudformation:DescribeStackEvents", "cloudformation:DescribeStackResources",
            "cloudformation:GetTemplate", "cloudformation:TagResource",
            "cloudformation:UpdateTerminationProtection",
          ]
          Resource = "arn:${format(local.arn.reg, "cloudformation")}:stack/${s.stacks}/*"
        },
        # Every deploy compares the state backend stack with envctl's template.
        {
          Sid      = "StateBackendStackRead"
          Effect   = "Allow"
          Action   = ["cloudformation:GetTemplate", "cloudformation:DescribeStackEvents"]
          Resource = "arn:${format(local.arn.reg, "cloudformation")}:stack/envctl-state-backend/*"
        },
      ],
      # CloudFormation creates the backend with the caller's permissions (no service role).
      s.bootstrap ? [
        {
          Sid    = "StateBackendBucket"
          Effect = "Allow"
          Action = [
            "s3:CreateBucket", "s3:GetBucketLocation", "s3:PutBucketVersioning", "s3:PutEncryptionConfiguration",
            "s3:GetEncryptionConfiguration", "s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock",
            "s3:PutBucketOwnershipControls", "s3:GetBucketOwnershipControls", "s3:PutLifecycleConfiguration",
            "s3:GetLifecycleConfiguration", "s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:PutBucketTagging",
            "s3:GetBucketTagging",
          ]
          Resource = "arn:${local.partition}:s3:::${local.state_bucket}"
        },
        {
          Sid    = "StateBackendLockTable"
          Effect = "Allow"
          Action = [
            "dynamodb:CreateTable", "dynamodb:UpdateTable", "dynamodb:DescribeContinuousBackups",
            "dynamodb:UpdateContinuousBackups", "dynamodb:TagResource", "dynamodb:ListTagsOfResource",
            "dynamodb:DescribeTimeToLive",
          ]
          Resource = "arn:${format(local.arn.reg, "dynamodb")}:table/${local.lock_table}"
        },
      ] : [],
      [
        {
          Sid    = "ListingAndIdentity"
          Effect = "Allow"
          Action = [
            "cloudformation:DescribeStacks", "cloudformation:ListStacks", "cloudformation:ValidateTemplate",
            "sts:GetCallerIdentity",
            # The AWS provider's aws_db_instance reads the role list (pike's mapping).
            "iam:ListRoles",
          ]
          Resource = "*"
        },
        {
          Sid    = "NamedResources"
          Effect = "Allow"
          Action = ["eks:*", "sqs:*", "sns:*", "s3:*", "rds:*", "cloudwatch:*", "logs:*"]
          Resource = [
            "arn:${format(local.arn.reg, "eks")}:cluster/${s.names}*",
            # node groups, add-ons, access entries, Pod Identity associations: <kind>/<cluster>/...
            "arn:${format(local.arn.reg, "eks")}:*/${s.names}*/*",
            "arn:${format(local.arn.reg, "sqs")}:${s.names}*",
            "arn:${format(local.arn.reg, "sns")}:${s.names}*",
            "arn:${local.partition}:s3:::${s.names}*",
            "arn:${format(local.arn.reg, "rds")}:*:${s.names}*",
            "arn:${format(local.arn.reg, "cloudwatch")}:alarm:${s.names}*",
            "arn:${local.partition}:cloudwatch::${local.account}:dashboard/${s.names}*",
            "arn:${format(local.arn.reg, "logs")}:log-group:*${s.names}*",
          ]
        },
        # Calls that take no resource (create, describe, list) for the same services.
        {
          Sid    = "NamedServicesUnscoped"
          Effect = "Allow"
          Action = [
            # CreateCluster takes no resource in IAM; the cluster's name is checked by every
            # later call (NamedResources).
            "eks:CreateCluster", "eks:ListClusters", "eks:DescribeAddonVersions", "eks:DescribeAddonConfiguration",
            "rds:CreateDBSubnetGroup", "rds:Describe*", "rds:AddTagsToResource",
            "cloudwatch:DescribeAlarms", "cloudwatch:ListDashboards", "cloudwatch:GetMetricData",
            "logs:DescribeLogGroups", "logs:CreateLogDelivery", "logs:DeleteLogDelivery",
            # WAF logging: the log group's resource policy that lets WAF deliver to it.
            "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
            "sqs:ListQueues", "sns:ListTopics", "sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes",
            "sns:Unsubscribe", "s3:ListAllMyBuckets",
            "ecr:GetAuthorizationToken",
          ]
          Resource  = "*"
          Condition = local.in_region
        },
        {
          Sid       = "RegionalInfrastructure"
          Effect    = "Allow"
          Action    = ["ec2:*", "elasticloadbalancing:*", "autoscaling:*", "kms:*"]
          Resource  = "*"
          Condition = local.in_region
        },
        # The api's edge (terraform/modules/edge). ACM names certificates by a random id,
        # so they are scoped to the region; Route 53 (global) names zones by id, and the
        # environment's zone is the operator's, so records are allowed in any zone of the
        # account (narrow to your zones' ids if the account holds others).
        {
          Sid    = "EdgeCertificates"
          Effect = "Allow"
          Action = [
            "acm:RequestCertificate", "acm:DescribeCertificate", "acm:GetCertificate", "acm:DeleteCertificate",
            "acm:ListTagsForCertificate", "acm:AddTagsToCertificate", "acm:RemoveTagsFromCertificate",
          ]
          Resource  = "*"
          Condition = local.in_region
        },
        {
          Sid    = "EdgeDnsRecords"
          Effect = "Allow"
          Action = [
            "route53:GetHostedZone", "route53:ListResourceRecordSets", "route53:ChangeResourceRecordSets",
            "route53:ListTagsForResource",
          ]
          Resource = "arn:${local.partition}:route53:::hostedzone/*"
        },
        {
          Sid      = "EdgeDnsChanges"
          Effect   = "Allow"
          Action   = ["route53:GetChange"]
          Resource = "arn:${local.partition}:route53:::change/*"
        },
        {
          Sid      = "EdgeDnsZones"
          Effect   = "Allow"
          Action   = ["route53:ListHostedZones"]
          Resource = "*"
        },
        # The environment's WAF web ACL (named like every resource) and the AWS managed
        # rule groups it references.
        {
          Sid    = "EdgeFirewall"
          Effect = "Allow"
          Action = [
            "wafv2:CreateWebACL", "wafv2:GetWebACL", "wafv2:UpdateWebACL", "wafv2:DeleteWebACL",
            "wafv2:ListTagsForResource", "wafv2:TagResource", "wafv2:UntagResource",
            "wafv2:PutLoggingConfiguration", "wafv2:GetLoggingConfiguration", "wafv2:DeleteLoggingConfiguration",
          ]
          Resource = [
            "arn:${format(local.arn.reg, "wafv2")}:*/webacl/${s.names}*/*",
            "arn:${local.partition}:wafv2:${var.region}:*:*/managedruleset/*/*",
          ]
        },
        {
          Sid      = "EnvironmentSecrets"
          Effect   = "Allow"
          Action   = local.secret_actions
          Resource = "arn:${format(local.arn.reg, "secretsmanager")}:secret:${s.names}*"
        },
        # Role writes that set or keep permissions are allowed only on roles that carry
        # the boundary: a role the deploy role creates can never do more than the
        # boundary allows, whatever policy it is given.
        {
          Sid    = "EnvironmentRolesBounded"
          Effect = "Allow"
          Action = [
            "iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy",
            "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary",
          ]
          Resource  = "${local.arn.iam}:role/${s.names}*"
          Condition = { StringEquals = { "iam:PermissionsBoundary" = local.boundary_arn } }
        },
        {
          Sid    = "EnvironmentRoles"
          Effect = "Allow"
          Action = [
            "iam:DeleteRole", "iam:GetRole", "iam:TagRole", "iam:UntagRole", "iam:UpdateRole",
            "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy", "iam:GetRolePolicy",
            "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole",
          ]
          Resource = "${local.arn.iam}:role/${s.names}*"
        },
        {
          Sid    = "EnvironmentPolicies"
          Effect = "Allow"
          Action = [
            "iam:CreatePolicy", "iam:DeletePolicy", "iam:GetPolicy", "iam:GetPolicyVersion",
            "iam:CreatePolicyVersion", "iam:DeletePolicyVersion", "iam:ListPolicyVersions",
            "iam:TagPolicy", "iam:UntagPolicy",
          ]
          Resource = "${local.arn.iam}:policy/${s.names}*"
        },
        {
          Sid    = "EnvironmentInstanceProfiles"
          Effect = "Allow"
          Action = [
            "iam:CreateInstanceProfile", "iam:DeleteInstanceProfile", "iam:GetInstanceProfile",
            "iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:TagInstanceProfile",
          ]
          Resource = "${local.arn.iam}:instance-profile/${s.names}*"
        },
        # The roots read the boundary by name (data "aws_iam_policy"), so a missing one
        # fails the plan: the provider lists policies to find it, then reads it.
        {
          Sid      = "FindTheBoundary"
          Effect   = "Allow"
          Action   = ["iam:ListPolicies"]
          Resource = "*"
        },
        {
          Sid      = "ReadTheBoundary"
          Effect   = "Allow"
          Action   = ["iam:GetPolicy", "iam:GetPolicyVersion"]
          Resource = local.boundary_arn
        },
        # Managed policies attached to environment roles (AWS's own, e.g. AmazonEKSClusterPolicy).
        {
          Sid      = "ReadManagedPolicies"
          Effect   = "Allow"
          Action   = ["iam:GetPolicy", "iam:GetPolicyVersion"]
          Resource = "arn:${local.partition}:iam::aws:policy/*"
        },
        {
          Sid       = "PassEnvironmentRoles"
          Effect    = "Allow"
          Action    = "iam:PassRole"
          Resource  = "${local.arn.iam}:role/${s.names}*"
          Condition = { StringEquals = { "iam:PassedToService" = local.passed_to_services } }
        },
        # The IRSA provider of each EKS cluster (named by the cluster's issuer id, not by envctl).
        {
          Sid    = "ClusterOidcProviders"
          Effect = "Allow"
          Action = [
            "iam:CreateOpenIDConnectProvider", "iam:DeleteOpenIDConnectProvider", "iam:GetOpenIDConnectProvider",
            "iam:TagOpenIDConnectProvider", "iam:UntagOpenIDConnectProvider", "iam:ListOpenIDConnectProviderTags",
            "iam:UpdateOpenIDConnectProviderThumbprint", "iam:AddClientIDToOpenIDConnectProvider",
            "iam:RemoveClientIDFromOpenIDConnectProvider",
          ]
          Resource = "${local.arn.iam}:oidc-provider/oidc.eks.${var.region}.amazonaws.com/*"
        },
        {
          Sid       = "ServiceLinkedRoles"
          Effect    = "Allow"
          Action    = "iam:CreateServiceLinkedRole"
          Resource  = "${local.arn.iam}:role/aws-service-role/*"
          Condition = { StringEquals = { "iam:AWSServiceName" = local.service_linked_roles } }
        },
        # No way out of the boundary: it cannot be removed from a role, nor changed, nor
        # deleted, by either role (an explicit deny wins over any allow).
        {
          Sid      = "KeepTheBoundary"
          Effect   = "Deny"
          Action   = ["iam:DeleteRolePermissionsBoundary"]
          Resource = "*"
        },
        {
          Sid    = "BoundaryIsFixed"
          Effect = "Deny"
          Action = [
            "iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion",
            "iam:SetDefaultPolicyVersion", "iam:TagPolicy", "iam:UntagPolicy",
          ]
          Resource = local.boundary_arn
        },
        # Each role's own repositories (never empty: variables.tf validates).
        {
          Sid      = "ImageRepositories"
          Effect   = "Allow"
          Action   = local.ecr_actions
          Resource = [for r in s.repositories : "arn:${format(local.arn.reg, "ecr")}:repository/${r}"]
        },
      ],
    )
  }

  access_policies = {
    for role, statements in local.access_statements : role => jsonencode({
      Version   = "2012-10-17"
      Statement = statements
    })
  }

  # The most any role created for an environment may ever do: what the EKS cluster and
  # node roles, the flow-log and RDS monitoring roles, the controllers (load balancer
  # controller, cluster autoscaler, KEDA, CloudWatch agent, VPC CNI, external-dns) and the runtime
  # need, in this region, on <prefix>-* resources where the service names them. No IAM
  # writes beyond service-linked roles, so a created role cannot create another.
  boundary_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "RegionalInfrastructure"
        Effect    = "Allow"
        Action    = ["ec2:*", "elasticloadbalancing:*", "autoscaling:*"]
        Resource  = "*"
        Condition = local.in_region
      },
      {
        Sid    = "ReadAndReport"
        Effect = "Allow"
        Action = [
          "cloudwatch:PutMetricData", "cloudwatch:GetMetricData", "cloudwatch:ListMetrics",
          "logs:DescribeLogGroups", "logs:DescribeLogStreams", "ecr:GetAuthorizationToken",
          "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability",
          "ecr:DescribeRepositories", "ecr:ListImages", "ecr:DescribeImages",
          "eks:DescribeCluster", "eks:DescribeNodegroup", "eks:ListNodegroups", "eks-auth:AssumeRoleForPodIdentity",
          "acm:DescribeCertificate", "acm:ListCertificates", "cognito-idp:DescribeUserPoolClient",
          "iam:GetServerCertificate", "iam:ListServerCertificates",
          "wafv2:GetWebACL", "wafv2:GetWebACLForResource", "wafv2:AssociateWebACL", "wafv2:DisassociateWebACL",
          "waf-regional:GetWebACL", "waf-regional:GetWebACLForResource", "waf-regional:AssociateWebACL",
          "waf-regional:DisassociateWebACL", "shield:GetSubscriptionState", "shield:DescribeProtection",
          "shield:CreateProtection", "shield:DeleteProtection",
          "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
          "xray:GetSamplingStatisticSummaries",
        ]
        Resource  = "*"
        Condition = local.in_region
      },
      {
        Sid    = "EncryptionKeys"
        Effect = "Allow"
        Action = [
          "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext",
          "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:DescribeKey", "kms:CreateGrant",
        ]
        Resource = "arn:${format(local.arn.reg, "kms")}:key/*"
      },
      {
        Sid    = "EnvironmentResources"
        Effect = "Allow"
        Action = ["sqs:*", "sns:Publish", "s3:*", "logs:*", "secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
        Resource = [
          "arn:${format(local.arn.reg, "sqs")}:${var.resource_prefix}-*",
          "arn:${format(local.arn.reg, "sns")}:${var.resource_prefix}-*",
          "arn:${local.partition}:s3:::${var.resource_prefix}-*",
          "arn:${format(local.arn.reg, "logs")}:log-group:*${var.resource_prefix}-*",
          # Container Insights and the CloudWatch agent: /aws/containerinsights/<cluster>/...
          "arn:${format(local.arn.reg, "logs")}:log-group:/aws/containerinsights/${var.resource_prefix}-*",
          # RDS enhanced monitoring writes to AWS's fixed log group.
          "arn:${format(local.arn.reg, "logs")}:log-group:RDSOSMetrics*",
          "arn:${format(local.arn.reg, "secretsmanager")}:secret:${var.resource_prefix}-*",
        ]
      },
      # external-dns: the api's records in the environment's hosted zone (each root's
      # role narrows this to its one zone). Route 53 is global: no region condition.
      {
        Sid      = "DnsRecords"
        Effect   = "Allow"
        Action   = ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets", "route53:ListTagsForResources"]
        Resource = "arn:${local.partition}:route53:::hostedzone/*"
      },
      {
        Sid      = "DnsZones"
        Effect   = "Allow"
        Action   = ["route53:ListHostedZones"]
        Resource = "*"
      },
      {
        Sid      = "CloudWatchAgentConfig"
        Effect   = "Allow"
        Action   = ["ssm:GetParameter"]
        Resource = "arn:${format(local.arn.reg, "ssm")}:parameter/AmazonCloudWatch-*"
      },
      # IAM database authentication (the runtime's rds-db:connect).
      {
        Sid      = "DatabaseConnect"
        Effect   = "Allow"
        Action   = ["rds-db:connect"]
        Resource = "arn:${format(local.arn.reg, "rds-db")}:dbuser:*/*"
      },
      {
        Sid       = "ServiceLinkedRoles"
        Effect    = "Allow"
        Action    = "iam:CreateServiceLinkedRole"
        Resource  = "${local.arn.iam}:role/aws-service-role/*"
        Condition = { StringEquals = { "iam:AWSServiceName" = local.service_linked_roles } }
      },
    ]
  })
}
