"""Injects one kind of error into a copy of a rendered Terraform root, for the self-test of
.ci/checks/terraform_core.sh (each must make `terraform validate` or `plan` fail).

    python inject.py KIND ROOT_DIR

Most injections add a file of their own so they keep working as the root changes; the
variable validation one edits a real module argument (the database's engine version),
because what it proves is that values coming from a profile meet the modules' rules.
Exits non-zero when the injection cannot be applied.
"""

import re
import sys
from pathlib import Path

ADDED = {
    # The class of the first real finding: a for_each set from an apply-time value
    # (modules/database once keyed its ingress rules by the cluster security group id).
    "unknown-for-each": """
resource "aws_vpc" "self_test" {
  cidr_block = "10.99.0.0/16"
}

resource "aws_security_group" "self_test" {
  name   = "self-test"
  vpc_id = aws_vpc.self_test.id
}

resource "aws_vpc_security_group_ingress_rule" "self_test" {
  for_each                     = toset([aws_security_group.self_test.id])
  security_group_id            = aws_security_group.self_test.id
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}
""",
    "bad-reference": """
output "self_test" {
  value = module.{module}.no_such_output
}
""",
    # A typo of enable_dns_hostnames: the provider schema has no such argument.
    "unknown-argument": """
resource "aws_vpc" "self_test" {
  cidr_block          = "10.99.0.0/16"
  enable_dns_hostname = true
}
""",
    # role_arn is required by aws_eks_cluster's schema.
    "missing-argument": """
resource "aws_eks_cluster" "self_test" {
  name = "self-test"
  vpc_config {
    subnet_ids = []
  }
}
""",
    "cycle": """
resource "aws_security_group" "self_test_a" {
  name        = "self-test-a"
  description = aws_security_group.self_test_b.id
}

resource "aws_security_group" "self_test_b" {
  name        = "self-test-b"
  description = aws_security_group.self_test_a.id
}
""",
    # random_password.result is sensitive in the provider's schema; a root output of it
    # must say `sensitive = true`.
    "sensitive-output": """
resource "random_password" "self_test" {
  length = 16
}

output "self_test" {
  value = random_password.self_test.result
}
""",
    "type-error": """
resource "aws_vpc" "self_test" {
  cidr_block = { not = "a string" }
}
""",
}


def main(kind, root):
    root = Path(root)
    main_tf = root / "main.tf"
    text = main_tf.read_text()
    if kind == "variable-validation":
        block = re.search(r'(?ms)^module "database" \{.*?^\}', text)
        if not block:
            sys.exit("inject.py: no module \"database\" in main.tf")
        old = block.group(0)
        new, n = re.subn(r'(?m)^(\s*engine_version\s*=\s*)"[^"]*"', r'\1"9.6"', old)
        if n != 1:
            sys.exit("inject.py: module \"database\" has no engine_version = \"...\" argument")
        main_tf.write_text(text.replace(old, new))
        return
    if kind not in ADDED:
        sys.exit(f"inject.py: unknown kind {kind}; one of {sorted(ADDED) + ['variable-validation']}")
    added = ADDED[kind]
    if "{module}" in added:
        m = re.search(r'(?m)^module "(\w+)"', text)
        if not m:
            sys.exit("inject.py: main.tf calls no module")
        added = added.replace("{module}", m.group(1))
    (root / "self_test.tf").write_text(added)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
