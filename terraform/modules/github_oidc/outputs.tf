output "deploy_role_arn" {
  description = "Set as the AWS_DEPLOY_ROLE_ARN variable of the staging and production GitHub environments."
  value       = aws_iam_role.deploy.arn
}

output "review_role_arn" {
  description = "Set as the AWS_REVIEW_ROLE_ARN variable of the review GitHub environment."
  value       = aws_iam_role.review.arn
}

output "drift_role_arn" {
  description = "Set as the AWS_DRIFT_ROLE_ARN variable of the drift-staging and drift-production GitHub environments. Give it a read access entry in each cluster (docs/operations.md, \"Drift\")."
  value       = aws_iam_role.drift.arn
}

output "oidc_provider_arn" {
  description = "The GitHub OIDC provider the roles trust."
  value       = local.oidc_provider_arn
}

output "image_repository_urls" {
  description = "The image repositories by name (REGISTRY/NAME, no tag). Set each GitHub environment's ECR_REPOSITORY variable to its repository's name."
  value       = { for name, r in aws_ecr_repository.image : name => r.repository_url }
}

output "permissions_boundary_arn" {
  description = "The boundary every aws_iam_role of an environment must set (permissions_boundary); the deploy and review roles may create and change roles only with it."
  value       = aws_iam_policy.boundary.arn
}
