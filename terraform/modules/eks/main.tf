# The EKS cluster: encrypted secrets, every control-plane log, access entries for the
# administrators (API authentication mode, no implicit creator admin); managed
# node groups (on-demand for the api and cluster services, spot tainted for batch
# workers) from launch templates with IMDSv2 and encrypted disks; the OIDC provider for
# IRSA, the cluster autoscaler's role, and one role per workload service account.

data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition
  oidc_host = replace(aws_iam_openid_connect_provider.this.url, "https://", "")
}

resource "aws_cloudwatch_log_group" "cluster" {
  # EKS writes control-plane logs to this exact name.
  name              = "/aws/eks/${var.name}/cluster"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "cluster_assume" {
  statement {
    actions = ["sts:AssumeRole", "sts:TagSession"]
    principals {
      type        = "Service"
      identifiers = ["eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "cluster" {
  name                 = "${var.name}-cluster"
  assume_role_policy   = data.aws_iam_policy_document.cluster_assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonEKSClusterPolicy"
}

resource "aws_eks_cluster" "this" {
  # checkov:skip=CKV_AWS_39:envctl applies manifests from CI runners outside the VPC; the endpoint is IAM-authenticated and limited to eks.public_access_cidrs
  # checkov:skip=CKV_AWS_38:CI runner addresses are not fixed; eks.public_access_cidrs in the profile narrows access where they are
  name                      = var.name
  version                   = var.kubernetes_version
  role_arn                  = aws_iam_role.cluster.arn
  enabled_cluster_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

  vpc_config {
    subnet_ids              = var.subnet_ids
    endpoint_private_access = true
    endpoint_public_access  = var.endpoint_public_access
    public_access_cidrs     = var.endpoint_public_access ? var.public_access_cidrs : null
  }

  # Access entries only (no aws-auth ConfigMap). The creator gets no implicit admin: who
  # may administer the cluster is var.admin_principals, whoever created it. Changing
  # bootstrap_cluster_creator_admin_permissions replaces an existing cluster.
  access_config {
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = false
  }

  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = var.kms_key_arn
    }
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy_attachment.cluster, aws_cloudwatch_log_group.cluster]
}

# Cluster administrators: the deploy roles and the profile's eks.admin_principals.
resource "aws_eks_access_entry" "admin" {
  for_each      = var.admin_principals
  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
  type          = "STANDARD"
  tags          = var.tags
}

resource "aws_eks_access_policy_association" "admin" {
  for_each      = var.admin_principals
  cluster_name  = aws_eks_cluster.this.name
  principal_arn = aws_eks_access_entry.admin[each.key].principal_arn
  policy_arn    = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }
}

# Readers of the cluster (the drift report's read-only role): it compares every object
# envctl applied, Secrets and the Namespace itself included, so the view policy that
# reads Secrets, at cluster scope (a namespace scope would refuse the Namespace).
resource "aws_eks_access_entry" "view" {
  for_each      = var.view_principals
  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
  type          = "STANDARD"
  tags          = var.tags
}

resource "aws_eks_access_policy_association" "view" {
  for_each      = var.view_principals
  cluster_name  = aws_eks_cluster.this.name
  principal_arn = aws_eks_access_entry.view[each.key].principal_arn
  policy_arn    = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSAdminViewPolicy"

  access_scope {
    type = "cluster"
  }
}

data "aws_iam_policy_document" "node_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "node" {
  name                 = "${var.name}-node"
  assume_role_policy   = data.aws_iam_policy_document.node_assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

# What nodes need and nothing more: the permissions boundary caps every managed policy here
# (.ci/checks/deploy_permissions.sh checks each is within it). No Systems Manager agent
# policy: the boundary gives nodes no SSM access; a shell on a node is `kubectl debug
# node/NAME`.
resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset([
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
    # The CloudWatch Observability add-on's agents run with the node's role.
    "CloudWatchAgentServerPolicy",
  ])
  role       = aws_iam_role.node.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.value}"
}

resource "aws_launch_template" "node" {
  for_each    = var.node_groups
  name_prefix = "${var.name}-${each.key}-"
  # Pods use IRSA, never the node's role: IMDSv2 only, one hop (unreachable from pods).
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size = each.value.disk_gib
      volume_type = "gp3"
      # The account's EBS key: a customer key would need grants for the Auto Scaling
      # service-linked role, which may not exist yet in a fresh account.
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.name}-${each.key}" })
  }

  tags = var.tags
}

resource "aws_eks_node_group" "this" {
  for_each        = var.node_groups
  cluster_name    = aws_eks_cluster.this.name
  node_group_name = each.key
  node_role_arn   = aws_iam_role.node.arn
  subnet_ids      = var.subnet_ids
  capacity_type   = each.value.capacity == "spot" ? "SPOT" : "ON_DEMAND"
  instance_types  = each.value.instance_types

  launch_template {
    id      = aws_launch_template.node[each.key].id
    version = aws_launch_template.node[each.key].latest_version
  }

  scaling_config {
    min_size     = each.value.min
    desired_size = each.value.desired
    max_size     = each.value.max
  }

  update_config {
    max_unavailable = 1
  }

  labels = {
    "envctl.io/node-group" = each.key
    "envctl.io/capacity"   = each.value.capacity
  }

  # Only pods that tolerate interruption (batch workers) land on spot capacity.
  dynamic "taint" {
    for_each = each.value.capacity == "spot" ? [1] : []
    content {
      key    = "envctl.io/capacity"
      value  = "spot"
      effect = "NO_SCHEDULE"
    }
  }

  tags = merge(var.tags, {
    "k8s.io/cluster-autoscaler/enabled"     = "true"
    "k8s.io/cluster-autoscaler/${var.name}" = "owned"
  })

  # The autoscaler owns desired_size once the group exists.
  lifecycle {
    ignore_changes = [scaling_config[0].desired_size]
  }

  depends_on = [aws_iam_role_policy_attachment.node]
}

locals {
  managed_addons = toset(concat(["vpc-cni", "kube-proxy", "coredns"], var.container_insights ? ["amazon-cloudwatch-observability"] : []))

  addon_configuration = {
    # The VPC CNI's network policy agent enforces the runtime's NetworkPolicies
    # (default-deny); without it they are accepted and ignored.
    "vpc-cni" = jsonencode({ enableNetworkPolicy = "true" })
    # The CloudWatch agent (a DaemonSet on the host network) keeps Container Insights and
    # also listens for Embedded Metric Format on the node's port 25888 (TCP and UDP). The
    # runtime sends its EMF lines there (RATES_EMF_ENDPOINT=tcp://$(HOST_IP):25888, the
    # node's IP from the downward API); the agent writes them to CloudWatch Logs, which
    # extracts the metrics. EMF printed on stdout would reach CloudWatch wrapped in Fluent
    # Bit's envelope, where no metrics are extracted.
    "amazon-cloudwatch-observability" = jsonencode({
      agent = {
        config = {
          logs = {
            metrics_collected = {
              kubernetes = { enhanced_container_insights = true }
              emf        = {}
            }
          }
        }
      }
    })
  }
}

# AWS's default version of each add-on for the cluster's Kubernetes version, unless
# var.addon_versions pins one: fixed for a cluster version, and a change shows in the plan.
data "aws_eks_addon_version" "this" {
  for_each           = local.managed_addons
  addon_name         = each.value
  kubernetes_version = var.kubernetes_version
  most_recent        = false
}

resource "aws_eks_addon" "this" {
  for_each                    = local.managed_addons
  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = each.value
  addon_version               = lookup(var.addon_versions, each.value, data.aws_eks_addon_version.this[each.value].version)
  configuration_values        = lookup(local.addon_configuration, each.value, null)
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
  tags                        = var.tags

  depends_on = [aws_eks_node_group.this]
}

# The CloudWatch Observability add-on moved into aws_eks_addon.this.
moved {
  from = aws_eks_addon.observability[0]
  to   = aws_eks_addon.this["amazon-cloudwatch-observability"]
}

data "tls_certificate" "oidc" {
  url = aws_eks_cluster.this.identity[0].oidc[0].issuer
}

resource "aws_iam_openid_connect_provider" "this" {
  url             = aws_eks_cluster.this.identity[0].oidc[0].issuer
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = [data.tls_certificate.oidc.certificates[0].sha1_fingerprint]
  tags            = var.tags
}

# IRSA: a role per Kubernetes service account, assumable only by that account's pods.
data "aws_iam_policy_document" "irsa_assume" {
  for_each = merge(var.workload_roles, {
    autoscaler = {
      namespace       = "kube-system"
      service_account = "cluster-autoscaler"
      policy_json     = data.aws_iam_policy_document.autoscaler.json
    }
  })

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.this.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:sub"
      values   = ["system:serviceaccount:${each.value.namespace}:${each.value.service_account}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "autoscaler" {
  statement {
    sid = "Describe"
    actions = [
      "autoscaling:DescribeAutoScalingGroups",
      "autoscaling:DescribeAutoScalingInstances",
      "autoscaling:DescribeLaunchConfigurations",
      "autoscaling:DescribeScalingActivities",
      "autoscaling:DescribeTags",
      "ec2:DescribeImages",
      "ec2:DescribeInstanceTypes",
      "ec2:DescribeLaunchTemplateVersions",
      "ec2:GetInstanceTypesFromInstanceRequirements",
    ]
    # These read-only calls cannot be scoped to resources.
    resources = ["*"]
  }

  statement {
    sid       = "DescribeOwnNodeGroups"
    actions   = ["eks:DescribeNodegroup"]
    resources = ["arn:${local.partition}:eks:*:*:nodegroup/${var.name}/*/*"]
  }

  statement {
    sid       = "ScaleOwnGroups"
    actions   = ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/k8s.io/cluster-autoscaler/${var.name}"
      values   = ["owned"]
    }
  }
}

resource "aws_iam_role" "autoscaler" {
  name                 = "${var.name}-autoscaler"
  assume_role_policy   = data.aws_iam_policy_document.irsa_assume["autoscaler"].json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "autoscaler" {
  name   = "cluster-autoscaler"
  role   = aws_iam_role.autoscaler.id
  policy = data.aws_iam_policy_document.autoscaler.json
}

resource "aws_iam_role" "workload" {
  for_each             = var.workload_roles
  name                 = "${var.name}-${each.key}"
  assume_role_policy   = data.aws_iam_policy_document.irsa_assume[each.key].json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "workload" {
  for_each = var.workload_roles
  name     = each.key
  role     = aws_iam_role.workload[each.key].id
  policy   = each.value.policy_json
}
