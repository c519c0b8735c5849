variable "cluster_name" {
  description = "Name of the EKS cluster the controllers run in."
  type        = string
}

variable "kubernetes_version" {
  description = "The cluster's Kubernetes minor version, e.g. 1.32 (selects the metrics-server and cluster-autoscaler versions)."
  type        = string

  validation {
    condition     = contains(["1.29", "1.30", "1.31", "1.32", "1.33", "1.34"], var.kubernetes_version)
    error_message = "kubernetes_version must be an EKS version from 1.29 to 1.34 (each has a pinned cluster-autoscaler image)."
  }
}

variable "region" {
  description = "AWS region of the cluster; set explicitly because pods cannot reach the node's instance metadata."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cluster (the load balancer controller's target groups and security groups)."
  type        = string
}

variable "controller_replicas" {
  description = "Replicas of the load balancer controller and of KEDA's operator, metrics server and webhooks."
  type        = number

  validation {
    condition     = var.controller_replicas >= 1 && var.controller_replicas <= 5
    error_message = "controller_replicas must be between 1 and 5."
  }
}

variable "load_balancer_controller_role_arn" {
  description = "IRSA role of kube-system/aws-load-balancer-controller (with load-balancer-controller-iam-policy.json)."
  type        = string
}

variable "keda_role_arn" {
  description = "IRSA role of keda/keda-operator (reads the batch queue's depth)."
  type        = string
}

variable "autoscaler_role_arn" {
  description = "IRSA role of kube-system/cluster-autoscaler."
  type        = string
}

variable "metrics_server_version" {
  description = "Exact metrics-server add-on version (e.g. v0.7.2-eksbuild.1); null: AWS's default for kubernetes_version."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags of every AWS resource."
  type        = map(string)
  default     = {}
}

variable "external_dns" {
  description = "external-dns for the api's name: the hosted zone's name (domain) and id, and its IRSA role (changes records in that zone only); null: not installed."
  type = object({
    domain   = string
    zone_id  = string
    role_arn = string
  })
  default = null
}
