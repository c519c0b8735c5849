output "repository_url" {
  description = "Repository URL (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME): the image name without a tag."
  value       = aws_ecr_repository.this.repository_url
}

output "repository_arn" {
  description = "ARN of the repository (for push permissions)."
  value       = aws_ecr_repository.this.arn
}

output "repository_name" {
  description = "Name of the repository."
  value       = aws_ecr_repository.this.name
}
