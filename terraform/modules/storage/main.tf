# The batch bucket: staged payloads and object-store drops. Encrypted with the
# environment's key, versioned, never public, TLS only, expired by lifecycle rules; new
# objects under the drop prefix are announced to the batch queue, and only the producer
# roles may put them there.

resource "aws_s3_bucket" "this" {
  # checkov:skip=CKV_AWS_144:staged batch payloads are transient (expired by lifecycle) and re-uploadable; a second-region copy adds cost without protecting data
  # checkov:skip=CKV_AWS_18:object access is logged by the runtime (batch ids per request) and by CloudTrail; a log bucket per environment would need its own lifecycle
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "expire-batches"
    status = "Enabled"
    filter {}

    expiration {
      days = var.expire_after_days
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expire_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  # Object drops only from the producer roles: every other principal (this account's
  # admins, the runtime, anyone another policy lets in) is denied s3:PutObject, which
  # also governs multipart uploads, under the drop prefix, and nothing else. Managing the
  # bucket, its policy, reading and deleting objects, and the runtime's staging under
  # batches/ are untouched, so nobody is locked out of the bucket. aws:PrincipalArn is
  # the role's own ARN for every session of the role. No producer: drops are closed.
  statement {
    sid       = "DropsOnlyFromProducers"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.this.arn}/${var.drop_prefix}*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    dynamic "condition" {
      for_each = length(var.producer_role_arns) > 0 ? [var.producer_role_arns] : []
      content {
        test     = "ArnNotLike"
        variable = "aws:PrincipalArn"
        values   = condition.value
      }
    }
  }

  # A producer in another account also needs the bucket's own grant (in this account,
  # either the role's policy or this suffices). Each role must exist: S3 refuses a policy
  # naming an unknown principal.
  dynamic "statement" {
    for_each = length(var.producer_role_arns) > 0 ? [var.producer_role_arns] : []
    content {
      sid       = "ProducerDrops"
      effect    = "Allow"
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.this.arn}/${var.drop_prefix}*"]
      principals {
        type        = "AWS"
        identifiers = statement.value
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.this.json

  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_bucket_notification" "this" {
  bucket = aws_s3_bucket.this.id

  queue {
    queue_arn     = var.queue_arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = var.drop_prefix
  }
}
