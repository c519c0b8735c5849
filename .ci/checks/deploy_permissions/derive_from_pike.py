#!/usr/bin/env python3
"""Regenerate terraform-actions.json from a checkout of pike.

pike (JamesWoolfenden/pike, Apache-2.0) publishes, per Terraform AWS resource and data
source, the IAM actions the provider calls: `apply` (create and the reads around it),
`modify`, `destroy`, `plan` (refresh) and `attributes` (actions needed only when an
argument is set). deploy_permissions.py reads the subset written here, so the CI check
runs offline and the table changes only when someone re-derives it on purpose:

    git clone https://github.com/JamesWoolfenden/pike /tmp/pike
    python3 .ci/checks/deploy_permissions/derive_from_pike.py /tmp/pike

Only the services the environment modules can use are kept (SERVICES), so the file
stays reviewable; a resource type from another service makes the check fail and name
this script.
"""
import json
import pathlib
import subprocess
import sys

# pike's folders (src/mapping/aws/{resource,data}/<folder>) for the services envctl's
# Terraform roots use or are likely to use next.
SERVICES = [
    "acm", "autoscaling", "cloudformation", "cloudwatch", "ec2", "ecr", "eks",
    "elasticloadbalancing", "iam", "kms", "logs", "misc", "rds", "route53", "s3",
    "secretsmanager", "sns", "sqs", "ssm",
]

OUT = pathlib.Path(__file__).with_name("terraform-actions.json")


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    repo = pathlib.Path(sys.argv[1])
    root = repo / "src" / "mapping" / "aws"
    if not root.is_dir():
        sys.exit(f"{root}: not a pike checkout (no src/mapping/aws)")
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    tag = subprocess.run(["git", "-C", str(repo), "describe", "--tags", "--always"], capture_output=True, text=True, check=True).stdout.strip()
    table = {"resource": {}, "data": {}}
    for kind in table:
        for service in SERVICES:
            for f in sorted((root / kind / service).glob("aws_*.json")):
                entries = json.loads(f.read_text())
                if not entries:
                    # pike lists the type and knows it calls nothing (aws_partition, ...).
                    table[kind][f.stem] = {"apply": [], "modify": [], "destroy": [], "plan": [], "attributes": {}}
                    continue
                e = entries[0]
                table[kind][f.stem] = {
                    "apply": sorted(set(e.get("apply") or [])),
                    "modify": sorted(set(e.get("modify") or [])),
                    "destroy": sorted(set(e.get("destroy") or [])),
                    "plan": sorted(set(e.get("plan") or [])),
                    "attributes": {k: sorted(set(v)) for k, v in sorted((e.get("attributes") or {}).items()) if v},
                }
    doc = {
        "source": {
            "project": "pike (https://github.com/JamesWoolfenden/pike), Apache License 2.0",
            "files": "src/mapping/aws/{resource,data}/<service>/<type>.json",
            "commit": commit,
            "version": tag,
            "services": SERVICES,
        },
        **table,
    }
    OUT.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    print(f"{OUT}: {len(table['resource'])} resource types, {len(table['data'])} data sources from pike {tag}")


if __name__ == "__main__":
    main()
