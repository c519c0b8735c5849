#!/usr/bin/env python3
"""Prove the provider-schema check still finds what it exists to find.

    provider_schema_selftest.py MODULES_DIR

Copies MODULES_DIR to a temporary directory, injects known errors (a typo'd argument, a
missing required argument, an unknown resource type, a block written as an argument, an
argument written as a block, an unknown nested block, a framework nested attribute written
as a block, a too-loose aws version constraint) next to constructs that are valid and must
not be reported (dynamic blocks, meta-arguments, lifecycle, provisioners, nested attributes),
and also breaks one real resource in a copied module file. Fails unless the check reports
each injected error at its file and line, and nothing else in the injected file.
"""

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHECK = Path(__file__).with_name("provider_schema.py")

# (line marker, expected message fragment). Each marker is a `#@NAME` comment on the line
# the finding must name; lines without a marker must produce no finding.
INJECTED = '''\
resource "aws_cloudwatch_log_group" "typo" {
  name              = "selftest"
  retention_in_dayz = 7 #@typo
}

resource "aws_eks_cluster" "missing_required" { #@missing
  name = "selftest"
  vpc_config {
    subnet_ids = ["subnet-1"]
  }
}

resource "aws_eks_clustr" "unknown_type" { #@unknown_type
  name = "selftest"
}

resource "aws_eks_cluster" "block_as_argument" {
  name     = "selftest"
  role_arn = "arn:aws:iam::111122223333:role/selftest"
  vpc_config = { #@block_as_argument
    subnet_ids = ["subnet-1"]
  }
}

resource "aws_iam_role" "argument_as_block" {
  assume_role_policy = "{}"
  tags { #@argument_as_block
    Name = "selftest"
  }
}

resource "aws_eks_cluster" "unknown_block" {
  name     = "selftest"
  role_arn = "arn:aws:iam::111122223333:role/selftest"
  vpc_config {
    subnet_ids = ["subnet-1"]
  }
  acess_config { #@unknown_block
    authentication_mode = "API"
  }
}

resource "helm_release" "nested_attribute_as_block" {
  name  = "selftest"
  chart = "selftest"
  set { #@helm_set_block
    name  = "a"
    value = "b"
  }
}

# Valid: meta-arguments, dynamic blocks, lifecycle, provisioners, nested attributes.
resource "aws_eks_node_group" "valid" {
  count           = 1
  cluster_name    = "selftest"
  node_group_name = "selftest"
  node_role_arn   = "arn:aws:iam::111122223333:role/selftest"
  subnet_ids      = ["subnet-1"]
  scaling_config {
    min_size     = 1
    desired_size = 1
    max_size     = 2
  }
  dynamic "taint" {
    for_each = [1]
    content {
      key    = "k"
      value  = "v"
      effect = "NO_SCHEDULE"
    }
  }
  dynamic "taintz" { #@dynamic_unknown
    for_each = []
    content {}
  }
  lifecycle {
    create_before_destroy = true
    ignore_changes        = [scaling_config[0].desired_size, scaling_confi] #@ignore_changes
  }
  provisioner "local-exec" {
    command = "true"
  }
  depends_on = []
}

module "selftest_call" {
  source = "./zz_selftest_child"
  nme    = "selftest" #@module_arg
}

resource "helm_release" "valid" {
  name       = "selftest"
  chart      = "selftest"
  repository = "https://example.invalid"
  set = [
    { name = "a", value = "b" },
    { name = "c", valu = "d" }, #@nested_key
  ]
}
'''

EXPECTED = {
    "typo": 'unknown argument "retention_in_dayz" (did you mean "retention_in_days"?)',
    "missing": 'missing required argument "role_arn"',
    "unknown_type": 'has no resource type "aws_eks_clustr"',
    "block_as_argument": '"vpc_config" is a block, not an argument',
    "argument_as_block": '"tags" is an argument, not a block',
    "unknown_block": 'unknown block type "acess_config" (did you mean "access_config"?)',
    "helm_set_block": '"set" is an argument, not a block',
    "dynamic_unknown": 'dynamic "taintz": unknown block type',
    "ignore_changes": 'ignore_changes names "scaling_confi"',
    "nested_key": 'unknown attribute "valu" in this object',
    "module_arg": 'has no variable "nme" (did you mean "name"?)',
}
# A finding on a marked line may come with others the same error causes; these are the
# only other findings allowed in the injected file.
ALSO_ALLOWED = {
    "nested_key": 'this object is missing the required attribute "value"',
}

VERSIONS = '''\
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0" #@loose_pin
    }
  }
}

resource "aws_sqs_queue" "pinned" {
  name = "selftest"
}
'''


def run(args):
    p = subprocess.run([sys.executable, str(CHECK), *args], capture_output=True, text=True)
    return p.returncode, p.stdout.splitlines(), p.stderr


def markers(text):
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        m = re.search(r"#@(\w+)", line)
        if m:
            out[m.group(1)] = n
    return out


def main(modules):
    failures = []
    with tempfile.TemporaryDirectory(prefix="provider-schema-selftest.") as tmp:
        copy = Path(tmp) / "modules"
        shutil.copytree(modules, copy)
        target = sorted(p for p in copy.iterdir() if p.is_dir() and list(p.glob("*.tf")))[0]
        injected = target / "zz_selftest.tf"
        injected.write_text(INJECTED)
        child = target / "zz_selftest_child"
        child.mkdir()
        (child / "variables.tf").write_text('variable "name" {\n  default = "x"\n}\n')
        vdir = copy / "zz_selftest_versions"
        vdir.mkdir()
        (vdir / "versions.tf").write_text(VERSIONS)

        # One real resource in a copied module file gets an unknown type.
        real = None
        for f in sorted(copy.rglob("*.tf")):
            if f in (injected,) or f.parent in (vdir, child):
                continue
            lines = f.read_text().splitlines(keepends=True)
            for i, line in enumerate(lines):
                m = re.match(r'resource "(aws_\w+)"', line)
                if m:
                    lines[i] = line.replace(m.group(1), "aws_selftest_no_such_type", 1)
                    f.write_text("".join(lines))
                    real = (f, i + 1)
                    break
            if real:
                break
        if real is None:
            failures.append(f"no aws resource found under {modules} to break")

        code, out, err = run([str(copy)])
        if code != 1:
            failures.append(f"the check exited {code} on injected errors (expected 1)")
        marks = markers(INJECTED)
        for name, fragment in EXPECTED.items():
            want = f"{injected}:{marks[name]}: "
            if not any(l.startswith(want) and fragment in l for l in out):
                failures.append(f"not reported: {name} ({fragment}) at {want}")
        allowed = list(EXPECTED.values()) + list(ALSO_ALLOWED.values())
        for l in out:
            if l.startswith(f"{injected}:"):
                line_no = int(l.split(":")[1])
                if line_no not in marks.values() or not any(a in l for a in allowed):
                    failures.append(f"unexpected finding in the injected file: {l}")
        vmark = markers(VERSIONS)["loose_pin"]
        want = f"{vdir / 'versions.tf'}:{vmark}: "
        if not any(l.startswith(want) and "admits" in l for l in out):
            failures.append(f"not reported: a loose hashicorp/aws constraint at {want}")
        if real:
            want = f"{real[0]}:{real[1]}: "
            if not any(l.startswith(want) and "aws_selftest_no_such_type" in l for l in out):
                failures.append(f"not reported: the unknown type injected into {real[0]}:{real[1]}")
        shown = [l for l in out if l.startswith(f"{injected}:") or "selftest" in l]
    if failures:
        print("provider_schema selftest FAILED:", file=sys.stderr)
        for f in failures:
            print("  " + f, file=sys.stderr)
        print("check output:\n" + "\n".join(out) + "\n" + err, file=sys.stderr)
        return 1
    print(f"provider_schema selftest: {len(EXPECTED) + 2} injected errors reported with file:line")
    for l in shown:
        print("  " + l)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
