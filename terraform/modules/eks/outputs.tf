output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = aws_eks_cluster.this.name
}

output "cluster_endpoint" {
  description = "HTTPS endpoint of the Kubernetes API."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_certificate_authority" {
  description = "Base64 PEM of the cluster's certificate authority (for Kubernetes clients)."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "cluster_security_group_id" {
  description = "Security group EKS attaches to the control plane and every node."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

output "oidc_provider_arn" {
  description = "ARN of the cluster's IAM OIDC provider (IRSA)."
  value       = aws_iam_openid_connect_provider.this.arn
}

output "autoscaler_role_arn" {
  description = "Role of the cluster autoscaler's service account (kube-system/cluster-autoscaler)."
  value       = aws_iam_role.autoscaler.arn
}

output "workload_role_arns" {
  description = "IRSA role ARNs by workload_roles key."
  value       = { for k, r in aws_iam_role.workload : k => r.arn }
}

output "admin_principal_arns" {
  description = "Principals with cluster-admin access entries."
  value       = [for e in aws_eks_access_entry.admin : e.principal_arn]
}

