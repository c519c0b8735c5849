#!/usr/bin/env python3
"""Prove the IAM policy lint still finds what it exists to find.

    iam_policies_selftest.py MODULES_DIR

Copies MODULES_DIR to a temporary directory and adds a module whose policies carry known
errors (a misspelled action in an aws_iam_policy_document, in a jsonencode() policy and in
a shipped .json policy; an unknown condition operator; an action whose resource can never
match) next to valid documents that must not be reported (a trust policy with an OIDC
provider's condition keys, a wildcard action scoped to one resource, references standing
for ARNs). Fails unless each error is reported at its file and line, and nothing else in
the added module.
"""

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHECK = Path(__file__).with_name("iam_policies.py")

MAIN_TF = '''\
data "aws_iam_policy_document" "bad_action" {
  statement {
    sid       = "Typo"
    actions   = ["sqs:SendMesage"] #@doc_typo
    resources = [aws_sqs_queue.q.arn]
  }
}

data "aws_iam_policy_document" "bad_operator" {
  statement {
    sid       = "Operator"
    actions   = ["sqs:ReceiveMessage"]
    resources = [aws_sqs_queue.q.arn]
    condition {
      test     = "StringEqualz" #@operator
      variable = "aws:PrincipalTag/team"
      values   = ["rates"]
    }
  }
}

data "aws_iam_policy_document" "bad_resource" {
  statement {
    sid       = "Mismatch"
    actions   = ["s3:GetObject"] #@mismatch
    resources = [aws_sqs_queue.q.arn]
  }
}

resource "aws_iam_role_policy" "inline" {
  role = "selftest"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "Inline"
      Effect   = "Allow"
      Action   = ["logs:PutLogEvent"] #@inline_typo
      Resource = "${aws_cloudwatch_log_group.g.arn}:*"
    }]
  })
}

# Valid: must not be reported.
data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.this.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:sub"
      values   = ["system:serviceaccount:rates:rates"]
    }
  }
}

data "aws_iam_policy_document" "valid" {
  statement {
    sid       = "Queue"
    actions   = ["sqs:*"]
    resources = [var.queue_arn]
  }
  statement {
    sid       = "Objects"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["arn:${data.aws_partition.current.partition}:s3:::${local.bucket}/*"]
  }
}
'''

POLICY_JSON = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Shipped", "Effect": "Allow", "Action": ["ec2:DescribeInstancez"], "Resource": "*"},
    ],
}

EXPECTED = {
    "doc_typo": "UNKNOWN_ACTION: Unknown action sqs:SendMesage",
    "operator": "UNKNOWN_OPERATOR",
    "mismatch": "RESOURCE_MISMATCH: s3:GetObject",
    "inline_typo": "UNKNOWN_ACTION: Unknown action logs:PutLogEvent",
}


def main(modules):
    failures = []
    with tempfile.TemporaryDirectory(prefix="iam-policies-selftest.") as tmp:
        copy = Path(tmp) / "modules"
        shutil.copytree(modules, copy)
        mod = copy / "zz_iam_selftest"
        mod.mkdir()
        (mod / "main.tf").write_text(MAIN_TF)
        shipped = mod / "policy.json"
        shipped.write_text(json.dumps(POLICY_JSON, indent=2) + "\n")
        p = subprocess.run([sys.executable, str(CHECK), str(copy)], capture_output=True, text=True)
        out = p.stdout.splitlines()
        if p.returncode != 1:
            failures.append(f"the lint exited {p.returncode} on injected errors (expected 1)")
        marks = {m.group(1): n for n, line in enumerate(MAIN_TF.splitlines(), 1) for m in [re.search(r"#@(\w+)", line)] if m}
        main_tf = mod / "main.tf"
        for name, fragment in EXPECTED.items():
            want = f"{main_tf}:{marks[name]}: "
            if not any(l.startswith(want) and fragment in l for l in out):
                failures.append(f"not reported: {name} ({fragment}) at {want}")
        want_json = "UNKNOWN_ACTION: Unknown action ec2:DescribeInstancez"
        json_line = next(n for n, l in enumerate(shipped.read_text().splitlines(), 1) if "DescribeInstancez" in l)
        if not any(l.startswith(f"{shipped}:{json_line}: ") and want_json in l for l in out):
            failures.append(f"not reported: the misspelled action in {shipped}:{json_line}")
        for l in out:
            if l.startswith(str(mod)):
                line_no = int(l.split(":")[1])
                if not (l.startswith(str(shipped)) or line_no in marks.values()):
                    failures.append(f"unexpected finding in the added module: {l}")
        shown = [l for l in out if l.startswith(str(mod))]
    if failures:
        print("iam_policies selftest FAILED:", file=sys.stderr)
        for f in failures:
            print("  " + f, file=sys.stderr)
        print("lint output:\n" + "\n".join(out) + "\n" + p.stderr, file=sys.stderr)
        return 1
    print(f"iam_policies selftest: {len(EXPECTED) + 1} injected errors reported with file:line")
    for l in shown:
        print("  " + l)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
