# The runtime's image repositories, made with the account setup and not with each
# environment: CI's image job (.github/workflows/image.yml) pushes a commit's image
# before `envctl up` first applies the environment, and review stacks, whose names CI
# cannot know in advance, share one repository. Environment roots only read theirs
# (`data "aws_ecr_repository"`, profile key runtime.image.ecr_repository).
#
# Tags are immutable (a tag names one image forever, so a rollback redeploys exactly
# what ran before, and the image job skips a tag that is already there); every push is
# scanned; the lifecycle policy keeps the newest tagged images (every image a rollback
# may need) and expires untagged ones (interrupted or superseded pushes).

resource "aws_ecr_repository" "image" {
  for_each = toset(flatten(values(var.image_repositories)))

  name                 = each.value
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  # KMS with ECR's AWS-managed key unless image_kms_key_arn names a customer key.
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.image_kms_key_arn
  }

  tags = var.tags

  lifecycle {
    # A review stack's role may push only to review repositories: one named like an
    # environment's would let review runs replace what staging or production deploy.
    precondition {
      condition     = !contains(var.image_repositories["review"], each.value) || startswith(each.value, "${var.resource_prefix}-review")
      error_message = "Image repository ${each.value} is the review role's, so its name must start with ${var.resource_prefix}-review."
    }
  }
}

resource "aws_ecr_lifecycle_policy" "image" {
  for_each = aws_ecr_repository.image

  repository = each.value.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Untagged images expire after ${var.image_untagged_expire_days} days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = var.image_untagged_expire_days
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the newest ${var.image_keep_tagged} tagged images (rollback targets)"
        selection = {
          tagStatus      = "tagged"
          tagPatternList = ["*"]
          countType      = "imageCountMoreThan"
          countNumber    = var.image_keep_tagged
        }
        action = { type = "expire" }
      },
    ]
  })
}
