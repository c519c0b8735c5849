#!/usr/bin/env bash
# Every IAM policy document in terraform/modules and in the rendered Terraform root of every
# environment (aws_iam_policy_document blocks, jsonencode() policies, shipped .json policies),
# linted offline with parliament against AWS's action catalogue: unknown actions, malformed
# conditions, resources an action can never match. A self-test first adds known-bad policies
# to a copy of the modules and fails unless each is reported.
# Run from the repository root with the tools venv on PATH (.ci/test.sh does both).
set -euo pipefail

ENVCTL=${ENVCTL:-target/debug/envctl}
[ -x "$ENVCTL" ] || cargo build --locked -q -p envctl --bin envctl
command -v python >/dev/null || { echo "iam_policies.sh: python is not on PATH (the .ci/venv)" >&2; exit 1; }
python -c 'import parliament' 2>/dev/null || { echo "iam_policies.sh: parliament is not installed (install .ci/requirements.txt)" >&2; exit 1; }

OUT=$(mktemp -d /tmp/envctl-iam-policies.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

envs=$("$ENVCTL" list --output json | python -c 'import json,sys; print(" ".join(e["name"] for e in json.load(sys.stdin)["environments"]))')
[ -n "$envs" ] || { echo "iam_policies.sh: envctl list found no environments" >&2; exit 1; }
roots=()
for env in $envs; do
  "$ENVCTL" render "$env" --out "$OUT/$env" >/dev/null
  if [ -d "$OUT/$env/terraform" ]; then roots+=("$OUT/$env/terraform"); fi
done
[ ${#roots[@]} -gt 0 ] || { echo "iam_policies.sh: no Terraform root was rendered" >&2; exit 1; }

echo "== IAM policy lint self-test (injected errors must be reported)"
python .ci/checks/iam_policies_selftest.py terraform/modules

echo "== IAM policy lint (parliament): terraform/modules and the roots of: $envs"
python .ci/checks/iam_policies.py --modules terraform/modules "${roots[@]}"
