#!/usr/bin/env bash
# Every resource, data source, provider and module block in terraform/modules and in the
# rendered Terraform root of every environment, checked against the providers' own schemas
# (from the cdktf prebuilt provider packages, offline; see .ci/schema/providers.py).
# A self-test first injects known errors into a copy of the modules and fails unless each
# is reported, so this check cannot silently become a no-op.
# Run from the repository root with the tools venv on PATH (.ci/test.sh does both).
set -euo pipefail

ENVCTL=${ENVCTL:-target/debug/envctl}
[ -x "$ENVCTL" ] || cargo build --locked -q -p envctl --bin envctl
command -v python >/dev/null || { echo "provider_schema.sh: python is not on PATH (the .ci/venv)" >&2; exit 1; }
python -c 'import importlib.metadata as m; m.distribution("cdktf-cdktf-provider-aws")' 2>/dev/null \
  || { echo "provider_schema.sh: cdktf-cdktf-provider-aws is not installed (install .ci/requirements.txt)" >&2; exit 1; }

OUT=$(mktemp -d /tmp/envctl-provider-schema.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

envs=$("$ENVCTL" list --output json | python -c 'import json,sys; print(" ".join(e["name"] for e in json.load(sys.stdin)["environments"]))')
[ -n "$envs" ] || { echo "provider_schema.sh: envctl list found no environments" >&2; exit 1; }
roots=()
for env in $envs; do
  "$ENVCTL" render "$env" --out "$OUT/$env" >/dev/null
  if [ -d "$OUT/$env/terraform" ]; then roots+=("$OUT/$env/terraform"); fi
done
[ ${#roots[@]} -gt 0 ] || { echo "provider_schema.sh: no Terraform root was rendered" >&2; exit 1; }

echo "== provider schema self-test (injected errors must be reported)"
python .ci/checks/provider_schema_selftest.py terraform/modules

echo "== provider schema: terraform/modules and the roots of: $envs"
python .ci/checks/provider_schema.py --modules terraform/modules "${roots[@]}"
