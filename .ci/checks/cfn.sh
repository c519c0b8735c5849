#!/usr/bin/env bash
# The Terraform state backend's CloudFormation template (cli/bootstrap/*.yaml, shipped
# inside envctl): cfn-lint clean, checkov clean (every skip carries a reason in the
# template), and the properties `envctl bootstrap` promises are present. Both linters
# are proven able to fail on a deliberately bad template.
# Run from the repository root with the tools venv on PATH (.ci/test.sh does both).
set -euo pipefail

need() { command -v "$1" >/dev/null || { echo "cfn.sh: \`$1\` is not on PATH (pip install $2 into .ci/venv)" >&2; exit 1; }; }
need cfn-lint cfn-lint
need checkov checkov
need python python

shopt -s nullglob
templates=(cli/bootstrap/*.yaml)
[ ${#templates[@]} -gt 0 ] || { echo "cfn.sh: no templates in cli/bootstrap/" >&2; exit 1; }

echo "cfn-lint ${templates[*]}"
cfn-lint "${templates[@]}"

echo "checkov ${templates[*]}"
for t in "${templates[@]}"; do
  BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE \
    checkov -f "$t" --framework cloudformation --quiet --compact --skip-download
done

echo "every checkov skip carries a comment"
python - "${templates[@]}" <<'PY'
import sys, yaml
class Loader(yaml.SafeLoader):
    pass
# CloudFormation short-form tags (!Sub, !Ref, ...) are opaque here.
Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
for path in sys.argv[1:]:
    doc = yaml.load(open(path), Loader=Loader)
    for name, res in doc["Resources"].items():
        for skip in ((res.get("Metadata") or {}).get("checkov") or {}).get("skip", []):
            if not str(skip.get("comment", "")).strip():
                sys.exit(f"{path}: {name}: checkov skip {skip.get('id')} has no comment")
PY

echo "the state backend is versioned, encrypted, non-public and locked"
python - cli/bootstrap/state-backend.yaml <<'PY'
import sys, yaml
class Loader(yaml.SafeLoader):
    pass
Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
doc = yaml.load(open(sys.argv[1]), Loader=Loader)
res = doc["Resources"]
bucket = res["StateBucket"]["Properties"]
problems = []
if bucket.get("VersioningConfiguration", {}).get("Status") != "Enabled":
    problems.append("state bucket versioning is not Enabled")
if not bucket.get("BucketEncryption"):
    problems.append("state bucket has no default encryption")
pab = bucket.get("PublicAccessBlockConfiguration", {})
for key in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
    if pab.get(key) is not True:
        problems.append(f"state bucket public access block: {key} is not true")
if res["StateBucket"].get("DeletionPolicy") != "Retain":
    problems.append("state bucket is not retained when the stack is deleted")
table = res["LockTable"]["Properties"]
if table.get("KeySchema") != [{"AttributeName": "LockID", "KeyType": "HASH"}]:
    problems.append("lock table key is not LockID (what Terraform's S3 backend uses)")
if not table.get("SSESpecification", {}).get("SSEEnabled"):
    problems.append("lock table is not encrypted")
outputs = set(doc.get("Outputs", {}))
for name in ("StateBucketName", "LockTableName"):
    if name not in outputs:
        problems.append(f"output {name} is missing (envctl reads it)")
if problems:
    sys.exit("cfn.sh: " + "; ".join(problems))
print("state-backend.yaml: ok")
PY

# The linters must be able to fail.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cat > "$scratch/bad.yaml" <<'YAML'
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketNam: typo
      AccessControl: PublicReadWrite
YAML
if cfn-lint "$scratch/bad.yaml" >/dev/null 2>&1; then
  echo "cfn.sh: cfn-lint accepted an invalid template; the check is broken" >&2
  exit 1
fi
if BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE checkov -f "$scratch/bad.yaml" --framework cloudformation --quiet --compact --skip-download >/dev/null 2>&1; then
  echo "cfn.sh: checkov accepted a public, unencrypted bucket; the check is broken" >&2
  exit 1
fi
echo "cfn: ok"
