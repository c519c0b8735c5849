# PostgreSQL on RDS: storage and Performance Insights encrypted with the environment's key,
# TLS enforced by the parameter group, Multi-AZ and read replicas as the profile says.
#
# Credentials (docs/architecture.md, "Database credentials"): the runtime signs in as
# var.iam_username with IAM database authentication (short-lived tokens from its IRSA role,
# valid on the primary and every replica). The master password is generated here and kept
# in a Secrets Manager secret that only the migration Job reads. RDS-managed master
# passwords (manage_master_user_password) are not used: RDS cannot create a read replica
# of a source whose master password it manages in Secrets Manager.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  family = "postgres${split(".", var.engine_version)[0]}"
  # rds-db:connect resources: arn:PARTITION:rds-db:REGION:ACCOUNT:dbuser:RESOURCE_ID/USER
  dbuser_arn_prefix = "arn:${data.aws_partition.current.partition}:rds-db:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:dbuser"
}

# Letters and digits only: RDS refuses `/`, `@`, `"` and spaces, and the password goes into
# a connection URL. 48 characters of [A-Za-z0-9] is about 285 bits.
resource "random_password" "master" {
  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "master" {
  # checkov:skip=CKV2_AWS_57:only the migration Job signs in with the master password; it is rotated by `terraform apply -replace=module.database.random_password.master`, the runtime uses IAM tokens that expire after 15 minutes
  name                    = "${var.name}/database/master"
  description             = "${var.name}: PostgreSQL master credentials, read by the migration Job only"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.deletion_protection ? 30 : 0
  tags                    = var.tags
}

# The environment's first API token (client `admin`, every scope). Terraform owns the
# secret, so it goes with the environment; envctl puts its value (a token it makes, never
# in Terraform state) the first time `envctl up` runs, and the migration Job registers the
# token's hash in the database.
resource "aws_secretsmanager_secret" "admin_token" {
  # checkov:skip=CKV2_AWS_57:a bearer token is rotated by creating a new client (`rates token create`) and revoking the old one, not by a rotation Lambda
  name                    = "${var.name}/api/admin-token"
  description             = "${var.name}: the api's first bearer token (client admin), put here by envctl up"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.deletion_protection ? 30 : 0
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "master" {
  secret_id = aws_secretsmanager_secret.master.id
  secret_string = jsonencode({
    engine   = "postgres"
    host     = aws_db_instance.primary.address
    port     = aws_db_instance.primary.port
    dbname   = var.database_name
    username = var.master_username
    password = random_password.master.result
  })
}

resource "aws_db_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_security_group" "this" {
  name        = "${var.name}-db"
  description = "PostgreSQL for ${var.name}: reachable from the cluster's nodes only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

# Keyed by the caller's static names: the group ids themselves are unknown until the
# cluster exists, and for_each keys must be known at plan time.
resource "aws_vpc_security_group_ingress_rule" "from_cluster" {
  for_each                     = var.allowed_security_groups
  security_group_id            = aws_security_group.this.id
  description                  = "PostgreSQL from ${each.key}"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_db_parameter_group" "this" {
  name        = "${var.name}-${local.family}"
  family      = local.family
  description = "${var.name}: TLS only, statement logging"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = tostring(var.log_min_duration_ms)
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_connections"
    value = "1"
  }

  parameter {
    name  = "log_disconnections"
    value = "1"
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

data "aws_iam_policy_document" "monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  count                = var.monitoring_interval_seconds > 0 ? 1 : 0
  name                 = "${var.name}-rds-monitoring"
  assume_role_policy   = data.aws_iam_policy_document.monitoring_assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  count      = var.monitoring_interval_seconds > 0 ? 1 : 0
  role       = aws_iam_role.monitoring[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "primary" {
  identifier     = "${var.name}-db"
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class
  db_name        = var.database_name
  username       = var.master_username
  password       = random_password.master.result

  allocated_storage     = var.allocated_storage_gib
  max_allocated_storage = var.max_allocated_storage_gib
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  multi_az               = var.multi_az
  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.this.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.this.name

  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  allow_major_version_upgrade         = false
  apply_immediately                   = false
  backup_retention_period             = var.backup_retention_days
  backup_window                       = "02:00-03:00"
  maintenance_window                  = "sun:03:30-sun:04:30"
  copy_tags_to_snapshot               = true
  deletion_protection                 = var.deletion_protection
  skip_final_snapshot                 = !var.final_snapshot
  final_snapshot_identifier           = var.final_snapshot ? "${var.name}-db-final" : null
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]

  performance_insights_enabled          = var.performance_insights
  performance_insights_kms_key_id       = var.performance_insights ? var.kms_key_arn : null
  performance_insights_retention_period = var.performance_insights ? 7 : null

  monitoring_interval = var.monitoring_interval_seconds
  monitoring_role_arn = var.monitoring_interval_seconds > 0 ? aws_iam_role.monitoring[0].arn : null

  tags = var.tags
}

# Read replicas serve GET /rates*; they inherit encryption, the master password and the
# database users (rates_app and its rds_iam grant) from the primary.
resource "aws_db_instance" "replica" {
  count               = var.read_replicas
  identifier          = "${var.name}-db-replica-${count.index + 1}"
  replicate_source_db = aws_db_instance.primary.identifier
  instance_class      = var.instance_class

  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn
  max_allocated_storage = var.max_allocated_storage_gib

  vpc_security_group_ids = [aws_security_group.this.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.this.name

  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  copy_tags_to_snapshot               = true
  deletion_protection                 = var.deletion_protection
  skip_final_snapshot                 = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  # Replicas of a Multi-AZ primary are Multi-AZ too, so a zone loss keeps the read path.
  multi_az = var.multi_az

  performance_insights_enabled          = var.performance_insights
  performance_insights_kms_key_id       = var.performance_insights ? var.kms_key_arn : null
  performance_insights_retention_period = var.performance_insights ? 7 : null

  monitoring_interval = var.monitoring_interval_seconds
  monitoring_role_arn = var.monitoring_interval_seconds > 0 ? aws_iam_role.monitoring[0].arn : null

  tags = var.tags
}
