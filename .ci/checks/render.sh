#!/usr/bin/env bash
# Checks of what `envctl render` produces, with the real tools: renders every environment
# with the built envctl, then terraform fmt, python-hcl2, kubernetes-validate and checkov.
# Run from the repository root with the tools venv on PATH (.ci/test.sh does both).
set -euo pipefail

ENVCTL=${ENVCTL:-target/debug/envctl}
[ -x "$ENVCTL" ] || cargo build --locked -q -p envctl --bin envctl
for tool in terraform kubernetes-validate checkov python; do
  command -v "$tool" >/dev/null || { echo "render.sh: $tool is not on PATH (install .ci/requirements.txt)" >&2; exit 1; }
done
python -c 'import hcl2' 2>/dev/null || { echo "render.sh: python-hcl2 is not installed" >&2; exit 1; }

OUT=$(mktemp -d /tmp/envctl-render-check.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

envs=$("$ENVCTL" list --output json | python -c 'import json,sys; print(" ".join(e["name"] for e in json.load(sys.stdin)["environments"]))')
[ -n "$envs" ] || { echo "render.sh: envctl list found no environments" >&2; exit 1; }
for env in $envs; do
  "$ENVCTL" render "$env" --out "$OUT/$env" >/dev/null
  echo "rendered $env"
done

echo "== every checkov skip carries a reason"
if grep -rnE 'checkov:skip=[A-Z0-9_]+(:\s*)?$' terraform/modules templates; then
  echo "render.sh: a checkov skip above has no reason" >&2; exit 1
fi
if grep -rnE 'checkov\.io/skip[0-9]+": "[A-Z0-9_]+(=\s*)?"' templates; then
  echo "render.sh: a checkov skip annotation above has no reason" >&2; exit 1
fi

echo "== terraform fmt -check"
terraform fmt -check -recursive -diff terraform/modules
roots=()
for env in $envs; do
  if [ -d "$OUT/$env/terraform" ]; then roots+=("$OUT/$env/terraform"); fi
done
[ ${#roots[@]} -gt 0 ] || { echo "render.sh: no Terraform root was rendered" >&2; exit 1; }
for root in "${roots[@]}"; do
  terraform fmt -check -recursive -diff "$root"
done

echo "== python-hcl2 parses every rendered .tf"
python - "$OUT" <<'PY'
import pathlib, sys
import hcl2
files = sorted(pathlib.Path(sys.argv[1]).rglob("*.tf"))
if not files:
    sys.exit("render.sh: no .tf files were rendered")
for f in files:
    with open(f) as fh:
        try:
            hcl2.load(fh)
        except Exception as e:
            sys.exit(f"render.sh: {f} does not parse: {e}")
print(f"{len(files)} files parsed")
PY

echo "== kubernetes-validate -k 1.32.0 --strict"
manifests=$(find "$OUT" -path '*/k8s/*.yaml' | sort)
[ -n "$manifests" ] || { echo "render.sh: no manifests were rendered" >&2; exit 1; }
# shellcheck disable=SC2086
report=$(kubernetes-validate -k 1.32.0 --strict $manifests 2>&1) || { echo "$report"; exit 1; }
# KEDA's kinds are CRDs without a schema here (envctl checks their fields itself); any
# other unknown kind means a typo in apiVersion or kind.
if echo "$report" | grep "Couldn't find schema" | grep -v "api version keda.sh/v1alpha1"; then
  echo "render.sh: manifests above have no schema to validate against" >&2; exit 1
fi
echo "$report" | grep -c "passed for resource" | sed 's/$/ objects validated/'

echo "== checkov (production)"
[ -d "$OUT/production/terraform" ] || { echo "render.sh: production was not rendered" >&2; exit 1; }
set +e
BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE checkov -d "$OUT/production" \
  --framework terraform,kubernetes --compact --quiet --skip-download >"$OUT/checkov.txt" 2>&1
status=$?
set -e
if [ $status -ne 0 ] || ! grep -q "Passed checks:" "$OUT/checkov.txt" || grep -qE "Failed checks: [1-9]" "$OUT/checkov.txt"; then
  cat "$OUT/checkov.txt"
  echo "render.sh: checkov reported failed checks (exit $status)" >&2
  exit 1
fi
grep "Passed checks:" "$OUT/checkov.txt"
echo "render checks passed"
