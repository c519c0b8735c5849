# The cluster controllers the rendered manifests rely on, each pinned to a version:
#
# - metrics-server (EKS community add-on): the metrics.k8s.io API the api's HPA reads.
# - AWS Load Balancer Controller (Helm): turns the api's Ingress (class `alb`) into an ALB.
#   Its IAM policy is the controller's own, vendored from its repository at the pinned
#   version (load-balancer-controller-iam-policy.json; the root gives it to an IRSA role).
# - KEDA (Helm): the worker's ScaledObject and TriggerAuthentication; its operator reads
#   the queue depth with its IRSA role.
# - cluster-autoscaler (Helm): grows and shrinks the managed node groups it discovers by
#   their cluster-autoscaler tags, with the EKS module's autoscaler role.
# - external-dns (Helm, with var.external_dns): points the api's name at the load balancer
#   the controller creates from the Ingress. Terraform cannot: the load balancer appears
#   only after Terraform (and again whenever the controller recreates it), so its DNS name
#   is unknown at plan. external-dns watches the Ingress and writes the alias record and a
#   TXT ownership record (owner: the cluster) in the one zone its IRSA role may change; a
#   review stack's record goes when its Ingress does (`envctl down` deletes the Ingress
#   first). A shared IngressGroup with a wildcard certificate and record would need one
#   cluster for every review stack, but each stack has its own cluster.
#
# The node's instance metadata is out of reach of pods (IMDSv2, hop limit 1), so every
# controller is told its region and VPC instead of discovering them.
#
# Teardown: the root makes this module depend on the network and the cluster, so
# `terraform destroy` removes these releases before the node groups, subnets and VPC. The
# load balancer controller must still be running when the api's Ingress is deleted (it
# deletes the ALB, its target groups and security groups); `envctl down` deletes the
# Ingress and waits for the ALB to go before it runs `terraform destroy`.

locals {
  # Chart versions (helm search repo / the charts' Chart.yaml at these tags).
  load_balancer_controller_chart = "3.5.0"  # controller v3.5.0; IAM policy from the same tag
  keda_chart                     = "2.18.3" # KEDA 2.18.3
  cluster_autoscaler_chart       = "9.59.0"
  external_dns_chart             = "1.20.0" # external-dns v0.20.0

  # cluster-autoscaler's minor version must match the cluster's Kubernetes minor version.
  cluster_autoscaler_images = {
    "1.29" = "v1.29.5"
    "1.30" = "v1.30.7"
    "1.31" = "v1.31.5"
    "1.32" = "v1.32.7"
    "1.33" = "v1.33.6"
    "1.34" = "v1.34.5"
  }

  # Controllers stay off spot nodes (those are tainted for batch workers) and spread
  # over nodes when there is more than one replica.
  controller_resources = {
    requests = { cpu = "100m", memory = "128Mi" }
    limits   = { memory = "512Mi" }
  }
}

# EKS managed add-on: AWS's default version for this Kubernetes version unless
# var.metrics_server_version pins another (the default only moves with the cluster's
# version or when AWS changes it, and shows as a plan diff when it does).
data "aws_eks_addon_version" "metrics_server" {
  addon_name         = "metrics-server"
  kubernetes_version = var.kubernetes_version
  most_recent        = false
}

resource "aws_eks_addon" "metrics_server" {
  cluster_name                = var.cluster_name
  addon_name                  = "metrics-server"
  addon_version               = coalesce(var.metrics_server_version, data.aws_eks_addon_version.metrics_server.version)
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"
  tags                        = var.tags
}

resource "helm_release" "load_balancer_controller" {
  name       = "aws-load-balancer-controller"
  namespace  = "kube-system"
  repository = "https://aws.github.io/eks-charts"
  chart      = "aws-load-balancer-controller"
  version    = local.load_balancer_controller_chart
  atomic     = true
  timeout    = 600

  values = [yamlencode({
    clusterName  = var.cluster_name
    region       = var.region
    vpcId        = var.vpc_id
    replicaCount = var.controller_replicas
    serviceAccount = {
      create = true
      name   = "aws-load-balancer-controller"
      annotations = {
        "eks.amazonaws.com/role-arn" = var.load_balancer_controller_role_arn
      }
    }
    resources = local.controller_resources
    # The api's Ingress names this class.
    createIngressClassResource = true
    ingressClass               = "alb"
  })]
}

resource "helm_release" "keda" {
  name             = "keda"
  namespace        = "keda"
  create_namespace = true
  repository       = "https://kedacore.github.io/charts"
  chart            = "keda"
  version          = local.keda_chart
  atomic           = true
  timeout          = 600

  values = [yamlencode({
    operator      = { replicaCount = var.controller_replicas }
    metricsServer = { replicaCount = var.controller_replicas }
    webhooks      = { replicaCount = var.controller_replicas }
    serviceAccount = {
      operator = { create = true, name = "keda-operator" }
    }
    # TriggerAuthentication `identityOwner: keda`: the operator's own IRSA role reads SQS.
    podIdentity = {
      aws = {
        irsa = {
          enabled              = true
          roleArn              = var.keda_role_arn
          stsRegionalEndpoints = "true"
        }
      }
    }
    env = [{ name = "AWS_REGION", value = var.region }]
    resources = {
      operator     = local.controller_resources
      metricServer = local.controller_resources
      webhooks     = local.controller_resources
    }
  })]
}

resource "helm_release" "cluster_autoscaler" {
  name       = "cluster-autoscaler"
  namespace  = "kube-system"
  repository = "https://kubernetes.github.io/autoscaler"
  chart      = "cluster-autoscaler"
  version    = local.cluster_autoscaler_chart
  atomic     = true
  timeout    = 600

  values = [yamlencode({
    # The Deployment's name, which `envctl up` checks is ready (the chart's default
    # appends "-aws-cluster-autoscaler").
    fullnameOverride = "cluster-autoscaler"
    cloudProvider    = "aws"
    awsRegion        = var.region
    autoDiscovery    = { clusterName = var.cluster_name }
    image            = { tag = local.cluster_autoscaler_images[var.kubernetes_version] }
    # One active autoscaler per cluster (it elects a leader; a second replica only waits).
    replicaCount = 1
    rbac = {
      serviceAccount = {
        create = true
        name   = "cluster-autoscaler"
        annotations = {
          "eks.amazonaws.com/role-arn" = var.autoscaler_role_arn
        }
      }
    }
    extraArgs = {
      # on-demand and spot groups of the same shape scale together; the cheapest fit wins.
      "balance-similar-node-groups" = true
      expander                      = "least-waste"
      "skip-nodes-with-system-pods" = false
    }
    resources = local.controller_resources
  })]
}

resource "helm_release" "external_dns" {
  count      = var.external_dns == null ? 0 : 1
  name       = "external-dns"
  namespace  = "kube-system"
  repository = "https://kubernetes-sigs.github.io/external-dns/"
  chart      = "external-dns"
  version    = local.external_dns_chart
  atomic     = true
  timeout    = 600

  values = [yamlencode({
    # The Deployment's name, which `envctl up` checks is ready.
    fullnameOverride = "external-dns"
    provider         = { name = "aws" }
    # Ingresses only (the api's), in this one zone; records it did not create (no TXT
    # record with this cluster as owner) are never touched, and its own go with the
    # Ingress (sync).
    sources       = ["ingress"]
    domainFilters = [var.external_dns.domain]
    policy        = "sync"
    registry      = "txt"
    txtOwnerId    = var.cluster_name
    extraArgs = [
      "--zone-id-filter=${var.external_dns.zone_id}",
      "--aws-zone-type=public",
    ]
    env = [{ name = "AWS_DEFAULT_REGION", value = var.region }]
    serviceAccount = {
      create = true
      name   = "external-dns"
      annotations = {
        "eks.amazonaws.com/role-arn" = var.external_dns.role_arn
      }
    }
    resources = local.controller_resources
  })]
}
