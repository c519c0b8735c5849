#!/usr/bin/env python3
"""Can the CI roles deploy and tear down every rendered environment?

Usage: check.py POLICIES_JSON RENDER_DIR [--self-test]

POLICIES_JSON is what Terraform evaluates from terraform/modules/github_oidc/policies.tf
(deploy, review, boundary, boundary_arn). RENDER_DIR holds `envctl render ENV --out
RENDER_DIR/ENV` for every environment.

For every Terraform resource type and data source in each rendered root, the IAM actions
the AWS provider calls to create, read, update and delete it come from pike's published
mapping (terraform-actions.json, see derive_from_pike.py), plus the actions of arguments
the root sets (pike's `attributes`). Gaps in pike are filled by SUPPLEMENT below, each
entry naming the provider's API calls. envctl's own SDK calls and the image job's ECR
calls are listed in ENVCTL_CALLS, each naming its source file.

Each required action is evaluated against the role's policy the way IAM does for one
request: the action's resource ARNs are built from AWS's service authorization reference
(parliament's bundled iam_definition.json) with the environment's names filled in, the
request's condition context holds what is known of the call (region, the service a role
is passed to, the permissions boundary the role in the root sets), explicit Deny wins,
and a condition key the context lacks never matches. Every action must exist in AWS's
catalogue, in the mapping and in the roles' policies alike.

Also: every aws_iam_role a root declares sets permissions_boundary (else the role's
CreateRole is denied), the boundary the root looks up is the one github_oidc creates, and
everything the roots give their roles is within the boundary: every literal action of
their policy documents, every action of the AWS managed policies they attach (AWS's own
documents, as moto ships them) and of the JSON policy files they read. A grant the
boundary cuts off silently does nothing, so it is an error unless WITHHELD says why.
"""
from __future__ import annotations

import argparse
import copy
import fnmatch
import json
import pathlib
import re
import sys

import hcl2
from moto.iam.aws_managed_policies import aws_managed_policies_data
from parliament import iam_definition

HERE = pathlib.Path(__file__).parent
ACCOUNT = "111122223333"
PARTITION = "aws"

# Providers that make no AWS API call with the role's credentials.
NO_AWS_CALLS = {
    "helm": "hashicorp/helm talks to the Kubernetes API (authorised by the EKS access entry), not to AWS",
    "kubernetes": "hashicorp/kubernetes talks to the Kubernetes API only",
    "random": "hashicorp/random computes values locally",
    "tls": "hashicorp/tls: data tls_certificate reads the OIDC issuer's certificate over HTTPS, no AWS API",
    "time": "hashicorp/time computes values locally",
    "null": "hashicorp/null computes nothing",
    "terraform": "terraform_data is built into Terraform",
    "local": "hashicorp/local writes local files",
}

# Where pike has no entry or misses a call the provider makes. Each entry names the
# provider source (hashicorp/terraform-provider-aws, internal/service/...) and its calls.
SUPPLEMENT: dict[str, dict[str, list[str]]] = {
    # internal/service/eks/access_policy_association.go: Read -> ListAssociatedAccessPolicies
    # (via findAccessPolicyAssociationByThreePartKey).
    "resource.aws_eks_access_policy_association": {"read": ["eks:ListAssociatedAccessPolicies"]},
    # internal/service/eks/addon.go: Create -> CreateAddon, Read -> DescribeAddon,
    # Update -> UpdateAddon, Delete -> DeleteAddon; tags -> TagResource/UntagResource.
    "resource.aws_eks_addon": {
        "apply": ["eks:CreateAddon", "eks:DescribeAddon", "eks:UpdateAddon", "eks:DeleteAddon", "eks:DescribeAddonVersions"],
        "attributes.tags": ["eks:TagResource", "eks:UntagResource"],
        "attributes.service_account_role_arn": ["iam:PassRole"],
    },
    # internal/service/eks/pod_identity_association.go: CreatePodIdentityAssociation (passes
    # role_arn to pods.eks.amazonaws.com), DescribePodIdentityAssociation,
    # UpdatePodIdentityAssociation, DeletePodIdentityAssociation.
    "resource.aws_eks_pod_identity_association": {
        "apply": ["eks:CreatePodIdentityAssociation", "eks:DescribePodIdentityAssociation",
                  "eks:UpdatePodIdentityAssociation", "eks:DeletePodIdentityAssociation", "iam:PassRole"],
    },
    # internal/service/secretsmanager/secret_version.go: PutSecretValue, GetSecretValue,
    # DescribeSecret, UpdateSecretVersionStage (delete), ListSecretVersionIds.
    "resource.aws_secretsmanager_secret_version": {
        "apply": ["secretsmanager:PutSecretValue", "secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret",
                  "secretsmanager:UpdateSecretVersionStage", "secretsmanager:ListSecretVersionIds"],
    },

    # WAF is not among the services terraform-actions.json keeps; pike's
    # src/mapping/aws/resource/wafv2/ lists CreateWebACL, GetWebACL, ListTagsForResource,
    # DeleteWebACL (tags: TagResource/UntagResource) and PutLoggingConfiguration,
    # GetLoggingConfiguration. The provider (internal/service/wafv2/web_acl.go) also
    # calls UpdateWebACL on change; web_acl_logging_configuration.go calls
    # DeleteLoggingConfiguration on destroy, and WAF's CloudWatch Logs delivery needs the
    # caller to create the log delivery and the log group's resource policy (AWS WAF
    # Developer Guide, "Sending web ACL traffic logs to an Amazon CloudWatch Logs log group").
    "resource.aws_wafv2_web_acl": {
        "apply": ["wafv2:CreateWebACL", "wafv2:GetWebACL", "wafv2:UpdateWebACL", "wafv2:DeleteWebACL",
                  "wafv2:ListTagsForResource"],
        "attributes.tags": ["wafv2:TagResource", "wafv2:UntagResource"],
    },
    "resource.aws_wafv2_web_acl_logging_configuration": {
        "apply": ["wafv2:PutLoggingConfiguration", "wafv2:GetLoggingConfiguration", "wafv2:DeleteLoggingConfiguration",
                  "logs:CreateLogDelivery", "logs:DeleteLogDelivery", "logs:PutResourcePolicy",
                  "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"],
    },
}

# Actions a mapping lists that the roles are denied on purpose, with why.
NOT_GRANTED = {
    "iam:DeleteRolePermissionsBoundary": "called only when permissions_boundary is removed from a role; roles keep it, so the roles are denied it",
}

# Actions of what the roots give their roles that the boundary withholds on purpose.
WITHHELD = {
    "ecr:GetRepositoryPolicy": "AmazonEC2ContainerRegistryReadOnly (node role): nodes only pull images",
    "ecr:GetLifecyclePolicy": "AmazonEC2ContainerRegistryReadOnly (node role): nodes only pull images",
    "ecr:GetLifecyclePolicyPreview": "AmazonEC2ContainerRegistryReadOnly (node role): nodes only pull images",
    "ecr:DescribeImageScanFindings": "AmazonEC2ContainerRegistryReadOnly (node role): nodes only pull images",
    "ecr:ListTagsForResource": "AmazonEC2ContainerRegistryReadOnly (node role): nodes only pull images",
}

# envctl's own SDK calls and the workflows' image job, per role. Resource names use
# {name} (the environment's resource prefix, e.g. rates-staging), {repository} (the image
# repository the root reads, data "aws_ecr_repository") and {region}/{account}.
ENVCTL_CALLS = [
    # cli/src/aws/sdk.rs: who am I (and the EKS token is a presigned GetCallerIdentity).
    ("sts:GetCallerIdentity", "*", "cli/src/aws/sdk.rs"),
    # cli/src/kube/cluster.rs: the cluster's endpoint and CA.
    ("eks:DescribeCluster", "arn:aws:eks:{region}:{account}:cluster/{name}", "cli/src/kube/cluster.rs"),
    # cli/src/aws/alarms.rs: put, list (with tags) and delete the environment's alarms.
    ("cloudwatch:DescribeAlarms", "*", "cli/src/aws/alarms.rs"),
    ("cloudwatch:ListTagsForResource", "arn:aws:cloudwatch:{region}:{account}:alarm:{name}-api-errors", "cli/src/aws/alarms.rs"),
    ("cloudwatch:PutMetricAlarm", "arn:aws:cloudwatch:{region}:{account}:alarm:{name}-api-errors", "cli/src/aws/alarms.rs"),
    ("cloudwatch:DeleteAlarms", "arn:aws:cloudwatch:{region}:{account}:alarm:{name}-api-errors", "cli/src/aws/alarms.rs"),
    # cli/src/aws/dashboard.rs
    ("cloudwatch:GetDashboard", "arn:aws:cloudwatch::{account}:dashboard/{name}", "cli/src/aws/dashboard.rs"),
    ("cloudwatch:PutDashboard", "arn:aws:cloudwatch::{account}:dashboard/{name}", "cli/src/aws/dashboard.rs"),
    ("cloudwatch:DeleteDashboards", "arn:aws:cloudwatch::{account}:dashboard/{name}", "cli/src/aws/dashboard.rs"),
    # cli/src/deploy/infra.rs: the database master credentials.
    ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:{region}:{account}:secret:{name}/database/master-AbCdEf", "cli/src/deploy/infra.rs"),
    # cli/src/deploy/infra.rs: the values envctl keeps in Terraform-owned secrets (the
    # admin token, the webhook's signing key): read, and put the first time.
    ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:{region}:{account}:secret:{name}/api/admin-token-AbCdEf", "cli/src/deploy/infra.rs"),
    ("secretsmanager:PutSecretValue", "arn:aws:secretsmanager:{region}:{account}:secret:{name}/api/admin-token-AbCdEf", "cli/src/deploy/infra.rs"),
    ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:{region}:{account}:secret:{name}/events/webhook-secret-AbCdEf", "cli/src/deploy/infra.rs"),
    ("secretsmanager:PutSecretValue", "arn:aws:secretsmanager:{region}:{account}:secret:{name}/events/webhook-secret-AbCdEf", "cli/src/deploy/infra.rs"),
    # cli/src/aws/state_backend.rs: every deploy reads the state backend stack.
    ("cloudformation:DescribeStacks", "arn:aws:cloudformation:{region}:{account}:stack/envctl-state-backend/id", "cli/src/aws/state_backend.rs"),
    ("cloudformation:GetTemplate", "arn:aws:cloudformation:{region}:{account}:stack/envctl-state-backend/id", "cli/src/aws/state_backend.rs"),
    # Terraform's S3 backend (state and lock).
    ("s3:GetObject", "arn:aws:s3:::envctl-tfstate-{account}-{region}/envs/{env}/terraform.tfstate", "templates/terraform/backend.tf.j2"),
    ("s3:PutObject", "arn:aws:s3:::envctl-tfstate-{account}-{region}/envs/{env}/terraform.tfstate", "templates/terraform/backend.tf.j2"),
    ("s3:ListBucket", "arn:aws:s3:::envctl-tfstate-{account}-{region}", "templates/terraform/backend.tf.j2"),
    ("dynamodb:GetItem", "arn:aws:dynamodb:{region}:{account}:table/envctl-tfstate-locks-{region}", "templates/terraform/backend.tf.j2"),
    ("dynamodb:PutItem", "arn:aws:dynamodb:{region}:{account}:table/envctl-tfstate-locks-{region}", "templates/terraform/backend.tf.j2"),
    ("dynamodb:DeleteItem", "arn:aws:dynamodb:{region}:{account}:table/envctl-tfstate-locks-{region}", "templates/terraform/backend.tf.j2"),
    # .github/workflows/image.yml: log in, skip an existing tag, push.
    ("ecr:GetAuthorizationToken", "*", ".github/workflows/image.yml"),
    ("ecr:DescribeImages", "arn:aws:ecr:{region}:{account}:repository/{repository}", ".github/workflows/image.yml"),
    ("ecr:BatchGetImage", "arn:aws:ecr:{region}:{account}:repository/{repository}", ".github/workflows/image.yml"),
    ("ecr:BatchCheckLayerAvailability", "arn:aws:ecr:{region}:{account}:repository/{repository}", ".github/workflows/image.yml"),
    ("ecr:InitiateLayerUpload", "arn:aws:ecr:{region}:{account}:repository/{repository}", ".github/workflows/image.yml"),
    ("ecr:UploadLayerPart", "arn:aws:ecr:{region}:{account}:repository/{repository}", ".github/workflows/image.yml"),
    ("ecr:CompleteLayerUpload", "arn:aws:ecr:{region}:{account}:repository/{repository}", ".github/workflows/image.yml"),
    ("ecr:PutImage", "arn:aws:ecr:{region}:{account}:repository/{repository}", ".github/workflows/image.yml"),
]
# Only the deploy role bootstraps the state backend (cli/src/aws/state_backend.rs).
DEPLOY_ONLY_CALLS = [
    (a, "arn:aws:cloudformation:{region}:{account}:stack/envctl-state-backend/id", "cli/src/aws/state_backend.rs")
    for a in ("cloudformation:CreateStack", "cloudformation:UpdateStack", "cloudformation:DeleteStack",
              "cloudformation:UpdateTerminationProtection", "cloudformation:DescribeStackEvents")
]
# Only the review role writes review markers (cli/src/review/marker.rs).
REVIEW_ONLY_CALLS = [
    (a, "arn:aws:cloudformation:{region}:{account}:stack/envctl-review-pr1/id", "cli/src/review/marker.rs")
    for a in ("cloudformation:CreateStack", "cloudformation:UpdateStack", "cloudformation:DeleteStack",
              "cloudformation:DescribeStacks", "cloudformation:TagResource")
]

# The service a resource type hands its roles to (iam:PassedToService), from each
# service's documentation of the role it assumes.
PASSED_TO = {
    "aws_eks_cluster": "eks.amazonaws.com",
    "aws_eks_node_group": "eks.amazonaws.com",
    "aws_eks_addon": "eks.amazonaws.com",
    "aws_flow_log": "vpc-flow-logs.amazonaws.com",
    "aws_db_instance": "monitoring.rds.amazonaws.com",
    "aws_eks_pod_identity_association": "pods.eks.amazonaws.com",
    "aws_launch_template": "ec2.amazonaws.com",
    "aws_iam_instance_profile": "ec2.amazonaws.com",
}
# The service-linked role a resource type may create on first use (iam:AWSServiceName).
LINKED_ROLE = {
    "aws_eks_cluster": "eks.amazonaws.com",
    "aws_eks_node_group": "eks-nodegroup.amazonaws.com",
    "aws_db_instance": "rds.amazonaws.com",
    "aws_db_parameter_group": "rds.amazonaws.com",
    "aws_db_subnet_group": "rds.amazonaws.com",
    "aws_lb": "elasticloadbalancing.amazonaws.com",
    "aws_autoscaling_group": "autoscaling.amazonaws.com",
}
# Services whose requests carry aws:RequestedRegion = us-east-1 whatever the stack's region.
GLOBAL_SERVICES = {"iam", "sts-global", "route53", "cloudfront"}

CATALOGUE = {svc["prefix"]: svc for svc in iam_definition}


class Problem(Exception):
    pass


# ---------------------------------------------------------------------------- catalogue

def privilege(action: str) -> dict | None:
    svc, _, name = action.partition(":")
    service = CATALOGUE.get(svc.lower())
    if not service:
        return None
    for p in service["privileges"]:
        if p["privilege"].lower() == name.lower():
            return p
    return None


def expand(pattern: str) -> list[str]:
    """Catalogue actions a policy's action pattern (with * and ?) stands for."""
    svc, _, name = pattern.partition(":")
    if pattern == "*":
        return ["*"]
    service = CATALOGUE.get(svc.lower())
    if not service:
        return []
    rx = re.compile(fnmatch.translate(name), re.IGNORECASE)
    return [f"{svc}:{p['privilege']}" for p in service["privileges"] if rx.match(p["privilege"])]


# The real shape of names the catalogue's ARN templates cannot guess from the environment.
NAME_SHAPES = {
    ("iam", "oidc-provider"): "oidc.eks.{region}.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
}


def request_arns(action: str, name: str, region: str, context: dict) -> tuple[list[str], bool]:
    """The resource ARNs one call of `action` names, with the environment's names filled in.

    Returns (arns, all_required). Required resource types (marked * in AWS's reference)
    must all be allowed. An action whose types are all optional acts on one of them (the
    provider tags, lists or reads its own resource), so one allowed type is enough. An
    action with no resource type is authorised against "*".
    """
    p = privilege(action)
    svc = action.split(":")[0].lower()
    types = [r["resource_type"] for r in p["resource_types"] if r["resource_type"]]
    if not types:
        return ["*"], True
    required = [t[:-1] for t in types if t.endswith("*")]
    chosen = required or types
    if action.lower() == "iam:createservicelinkedrole":
        service = context.get("iam:AWSServiceName", "unknown.amazonaws.com")
        return [f"arn:{PARTITION}:iam::{ACCOUNT}:role/aws-service-role/{service}/AWSServiceRoleForExample"], True
    arns = []
    resources = {r["resource"]: r["arn"] for r in CATALOGUE[svc]["resources"]}
    for t in chosen:
        template = resources.get(t)
        if template is None:
            continue
        arn = template.replace("${Partition}", PARTITION).replace("${Region}", region).replace("${Account}", ACCOUNT)
        shape = NAME_SHAPES.get((svc, t))
        if shape:
            arn = re.sub(r"\$\{[A-Za-z0-9]+\}", shape.format(region=region), arn, count=1)
        # Every other variable is a name or id of the environment's own resource.
        arn = re.sub(r"\$\{[A-Za-z0-9]+\}", name, arn)
        arns.append(arn)
    return (arns or ["*"]), bool(required)


# ---------------------------------------------------------------------------- evaluation

def as_list(v):
    return v if isinstance(v, list) else [v]


def glob(pattern: str, value: str, case: bool = True) -> bool:
    rx = fnmatch.translate(pattern)
    return re.match(rx, value, 0 if case else re.IGNORECASE) is not None


def conditions_hold(cond: dict, context: dict) -> bool:
    for op, pairs in cond.items():
        if_exists = op.endswith("IfExists")
        base = op[: -len("IfExists")] if if_exists else op
        for key, wanted in pairs.items():
            actual = context.get(key)
            if actual is None:
                if if_exists:
                    continue
                return False
            wanted = [str(w) for w in as_list(wanted)]
            if base in ("StringEquals", "ArnEquals"):
                ok = actual in wanted
            elif base in ("StringLike", "ArnLike"):
                ok = any(glob(w, actual) for w in wanted)
            elif base == "StringNotEquals":
                ok = actual not in wanted
            elif base == "StringNotLike":
                ok = not any(glob(w, actual) for w in wanted)
            else:
                raise Problem(f"condition operator {op} is not understood by this check")
            if not ok:
                return False
    return True


def statement_applies(st: dict, action: str, arn: str, context: dict) -> bool:
    if "Action" in st:
        if not any(glob(a, action, case=False) for a in as_list(st["Action"])):
            return False
    elif "NotAction" in st:
        if any(glob(a, action, case=False) for a in as_list(st["NotAction"])):
            return False
    if "Resource" in st:
        if not any(glob(r, arn) for r in as_list(st["Resource"])):
            return False
    elif "NotResource" in st:
        if any(glob(r, arn) for r in as_list(st["NotResource"])):
            return False
    return conditions_hold(st.get("Condition", {}), context)


def allowed(policy: dict, action: str, arn: str, context: dict) -> tuple[bool, str]:
    allow = None
    for st in policy["Statement"]:
        if statement_applies(st, action, arn, context):
            if st["Effect"] == "Deny":
                return False, f"denied by statement {st.get('Sid', '?')}"
            allow = st.get("Sid", "?")
    if allow:
        return True, f"allowed by {allow}"
    return False, "no statement allows it"


# ---------------------------------------------------------------------------- rendered roots

def parse_root(root: pathlib.Path):
    """(kind, type, block, file) for every resource and data block under root."""
    out = []
    for f in sorted(root.rglob("*.tf")):
        with open(f) as fh:
            doc = hcl2.load(fh)
        for kind in ("resource", "data"):
            for entry in doc.get(kind, []):
                for rtype, named in entry.items():
                    for rname, block in named.items():
                        out.append((kind, rtype, rname, block, f))
    return out


def attr(block: dict, key: str, default=None):
    """An attribute's value. python-hcl2 7 wraps every attribute value in a one-element
    list (`name = "x"` is ["x"], `actions = ["a"]` is [["a"]]); older versions do not."""
    v = block.get(key, default)
    if isinstance(v, list) and len(v) == 1 and (isinstance(v[0], list) or not isinstance(v[0], dict)):
        return v[0]
    return v


def literal_actions(block: dict) -> list[str]:
    acts = []
    for st in block.get("statement", []):
        # Trust and resource policies (statements with principals) grant nothing to a role.
        if attr(st, "effect", "Allow") == "Deny" or "principals" in st:
            continue
        for a in as_list(attr(st, "actions", []) or []):
            if isinstance(a, str) and "${" not in a:
                acts.append(a)
    return acts


def required_actions(kind: str, rtype: str, block: dict, table: dict) -> list[str] | None:
    entry = table[kind].get(rtype)
    sup = SUPPLEMENT.get(f"{kind}.{rtype}", {})
    if entry is None and not sup:
        return None
    entry = entry or {"apply": [], "modify": [], "destroy": [], "plan": [], "attributes": {}}
    acts = set()
    for phase in ("apply", "modify", "destroy", "plan"):
        acts.update(entry.get(phase, []))
    for attr, extra in entry.get("attributes", {}).items():
        if attr in block:
            acts.update(extra)
    for key, extra in sup.items():
        if key.startswith("attributes."):
            if key.split(".", 1)[1] in block:
                acts.update(extra)
        else:
            acts.update(extra)
    return sorted(acts)


def in_boundary(boundary: dict, action: str, region: str) -> bool:
    """Does some Allow statement of the boundary cover `action` (any resource)?"""
    context = {"aws:RequestedRegion": region, "iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}
    return any(statement_applies({**st, "Resource": "*"}, action, "*", context)
               for st in boundary["Statement"] if st["Effect"] == "Allow" and "NotResource" not in st)


MANAGED = json.loads(aws_managed_policies_data)


def given_documents(blocks, root: pathlib.Path, render_dir: pathlib.Path):
    """(where, what, policy document or error) for each AWS managed policy a root attaches
    to its roles and each JSON policy file it reads."""
    for kind, rtype, rname, block, f in blocks:
        if (kind, rtype) != ("resource", "aws_iam_role_policy_attachment"):
            continue
        where = f"{f.relative_to(render_dir)}: resource {rtype}.{rname}"
        arn = str(attr(block, "policy_arn", ""))
        m = re.search(r":iam::aws:policy/(?:[\w+=,.@-]+/)*(.+)$", arn)
        if not m:
            yield where, arn, f"policy_arn {arn} is not an AWS managed policy this check can read"
            continue
        names = [m.group(1)]
        if names[0] == "${each.value}":
            names = re.findall(r"['\"]([\w+=,.@-]+)['\"]", str(attr(block, "for_each", "")))
        for n in names:
            if "${" in n or n not in MANAGED:
                yield where, n, f"{n}: not an AWS managed policy moto knows (moto.iam.aws_managed_policies)"
            else:
                yield where, f"AWS managed policy {n}", MANAGED[n]["Document"]
    for f in sorted(root.rglob("*.tf")):
        for lineno, line in enumerate(f.read_text().splitlines(), 1):
            for rel in re.findall(r'file\("\$\{path\.module\}/([^"]+\.json)"\)', line):
                path = f.parent / rel
                where = f"{f.relative_to(render_dir)}:{lineno}"
                try:
                    yield where, f"policy file {rel}", json.loads(path.read_text())
                except (OSError, ValueError) as e:
                    yield where, rel, f"cannot read policy file {path}: {e}"


# ---------------------------------------------------------------------------- main

def check(policies: dict, render_dir: pathlib.Path, region: str, quiet: bool = False) -> list[str]:
    table = json.loads((HERE / "terraform-actions.json").read_text())
    boundary_arn = policies["boundary_arn"]
    boundary = json.loads(policies["boundary"])
    errors: list[str] = []

    # The roles' own policies name only real actions (a typo grants nothing).
    for role in ("deploy", "review", "boundary"):
        for st in json.loads(policies[role])["Statement"]:
            for a in as_list(st.get("Action", [])):
                if not expand(a):
                    errors.append(f"github_oidc policy {role}, statement {st.get('Sid')}: {a} is not an action in AWS's catalogue")

    envs = sorted(p for p in render_dir.iterdir() if (p / "terraform").is_dir())
    if not envs:
        raise Problem(f"{render_dir}: no rendered Terraform root")
    for env_dir in envs:
        env = env_dir.name
        review = env.startswith("review")
        role = "review" if review else "deploy"
        policy = json.loads(policies[role])
        stack = "review-pr1-example" if review else env
        name = f"rates-{stack}"
        blocks = parse_root(env_dir / "terraform")
        checked = 0
        # The image repository the root reads (made by github_oidc, not by the root).
        repos = [attr(b, "name") for k, t, _, b, _ in blocks if (k, t) == ("data", "aws_ecr_repository")]
        repository = repos[0] if repos else name
        # The boundary the root looks up by name must be the one github_oidc creates.
        for k, t, rn, b, f in blocks:
            if (k, t) == ("data", "aws_iam_policy") and attr(b, "name") != boundary_arn.rsplit("/", 1)[-1]:
                errors.append(f"{f.relative_to(render_dir)}: data aws_iam_policy.{rn} looks up {attr(b, 'name')!r}, but github_oidc's boundary is {boundary_arn} (permissions_boundary_name)")
        for kind, rtype, rname, block, f in blocks:
            where = f"{f.relative_to(render_dir)}: {kind} {rtype}.{rname}"
            provider = rtype.split("_", 1)[0]
            if provider != "aws":
                if provider not in NO_AWS_CALLS:
                    errors.append(f"{where}: provider {provider} is unknown to this check (add it to NO_AWS_CALLS with why it needs no AWS permissions, or map its calls)")
                continue
            acts = required_actions(kind, rtype, block, table)
            if acts is None:
                errors.append(f"{where}: no IAM mapping for {kind} {rtype} (re-derive terraform-actions.json from pike with its service in SERVICES, or add a SUPPLEMENT entry citing the provider's API calls)")
                continue
            if rtype == "aws_iam_role":
                pb = block.get("permissions_boundary")
                if not pb:
                    errors.append(f"{where}: aws_iam_role without permissions_boundary: the {role} role may create roles only with the boundary ({boundary_arn}); set permissions_boundary = var.permissions_boundary_arn")
            for a in literal_actions(block) if rtype == "aws_iam_policy_document" else []:
                if not expand(a):
                    errors.append(f"{where}: {a} is not an action in AWS's catalogue")
                elif not any(in_boundary(boundary, x, region) for x in expand(a)):
                    errors.append(f"{where}: {a} is outside the permissions boundary, so a role given it cannot use it")
            for action in acts:
                if action in NOT_GRANTED:
                    continue
                if privilege(action) is None:
                    if not quiet:
                        print(f"  note: {where}: the mapping lists {action}, which AWS's catalogue does not have; ignored")
                    continue
                svc = action.split(":")[0]
                context = {"aws:RequestedRegion": "us-east-1" if svc in GLOBAL_SERVICES else region}
                if rtype in PASSED_TO:
                    context["iam:PassedToService"] = PASSED_TO[rtype]
                if rtype in LINKED_ROLE:
                    context["iam:AWSServiceName"] = LINKED_ROLE[rtype]
                if rtype == "aws_iam_role" and block.get("permissions_boundary"):
                    context["iam:PermissionsBoundary"] = boundary_arn
                if rtype in ("aws_iam_role_policy", "aws_iam_role_policy_attachment"):
                    # Their role is one of the root's roles, which must carry the boundary.
                    context["iam:PermissionsBoundary"] = boundary_arn
                # A data source that looks a resource up by a literal name acts on that name.
                own = attr(block, "name") if kind == "data" else None
                target = own if isinstance(own, str) and "${" not in own else name
                arns, all_required = request_arns(action, target, region, context)
                verdicts = [(arn, *allowed(policy, action, arn, context)) for arn in arns]
                checked += len(verdicts)
                denied = [(arn, why) for arn, ok, why in verdicts if not ok]
                if denied and (all_required or len(denied) == len(verdicts)):
                    for arn, why in denied:
                        errors.append(f"{where}: {role} role cannot {action} on {arn} ({why})")
        for where, what, doc in given_documents(blocks, env_dir / "terraform", render_dir):
            if isinstance(doc, str):
                errors.append(f"{where}: {doc}")
                continue
            cut = sorted({x for st in as_list(doc["Statement"]) if st["Effect"] == "Allow"
                          for a in as_list(st.get("Action", [])) for x in expand(a)
                          if x not in WITHHELD and not in_boundary(boundary, x, region)})
            if cut:
                errors.append(f"{where}: {what} grants {', '.join(cut)}, which the permissions boundary does not allow (widen the boundary in github_oidc/policies.tf or list them in WITHHELD with why)")
        calls = ENVCTL_CALLS + (REVIEW_ONLY_CALLS if review else DEPLOY_ONLY_CALLS)
        for action, arn, source in calls:
            arn = arn.format(region=region, account=ACCOUNT, name=name, env=stack, repository=repository)
            ok, why = allowed(policy, action, arn, {"aws:RequestedRegion": region})
            checked += 1
            if not ok:
                errors.append(f"{source} ({env}): {role} role cannot {action} on {arn} ({why})")
        if not quiet:
            print(f"{env}: {role} role, {len({b[1] for b in blocks})} types, {checked} (action, resource) pairs evaluated")
    return errors


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("policies")
    ap.add_argument("render_dir")
    ap.add_argument("--region", default="eu-west-1")
    ap.add_argument("--self-test", action="store_true", help="also prove that removing a needed action fails")
    args = ap.parse_args()
    policies = json.loads(pathlib.Path(args.policies).read_text())
    render_dir = pathlib.Path(args.render_dir)
    try:
        errors = check(policies, render_dir, args.region)
    except Problem as e:
        sys.exit(f"deploy_permissions: {e}")
    if errors:
        for e in errors:
            print(f"error: {e}", file=sys.stderr)
        sys.exit(f"deploy_permissions: {len(errors)} problem(s)")
    if args.self_test:
        # Drop one action the roots need (PassRole of the flow-log role to VPC flow logs)
        # and the whole region-limited EC2 grant: each must be caught.
        for what, mutate in (
            ("vpc-flow-logs.amazonaws.com from PassEnvironmentRoles",
             lambda st: st.get("Sid") == "PassEnvironmentRoles" and st["Condition"]["StringEquals"].__setitem__(
                 "iam:PassedToService", [s for s in st["Condition"]["StringEquals"]["iam:PassedToService"] if s != "vpc-flow-logs.amazonaws.com"])),
            ("ec2:* from RegionalInfrastructure",
             lambda st: st.get("Sid") == "RegionalInfrastructure" and st.__setitem__("Action", [a for a in st["Action"] if a != "ec2:*"])),
            ("the boundary condition on role writes (a role without it must be refused)",
             lambda st: st.get("Sid") == "EnvironmentRolesBounded" and st["Condition"]["StringEquals"].__setitem__(
                 "iam:PermissionsBoundary", st["Condition"]["StringEquals"]["iam:PermissionsBoundary"] + "-other")),
        ):
            broken = copy.deepcopy(policies)
            doc = json.loads(broken["deploy"])
            for st in doc["Statement"]:
                mutate(st)
            broken["deploy"] = json.dumps(doc)
            if not check(broken, render_dir, args.region, quiet=True):
                sys.exit(f"deploy_permissions: removing {what} went unnoticed; the check is broken")
            print(f"self-test: removing {what} fails the check")

        # The boundary side: a boundary that cuts off what the roots' roles are given
        # (ec2:*, which the managed node and cluster policies, the load balancer
        # controller's file and the autoscaler's document need), or that the roots do not
        # look up by its name, must be caught with a message saying so.
        def drop_ec2(p):
            doc = json.loads(p["boundary"])
            for st in doc["Statement"]:
                if st.get("Sid") == "RegionalInfrastructure":
                    st["Action"] = [a for a in st["Action"] if a != "ec2:*"]
            p["boundary"] = json.dumps(doc)

        def rename(p):
            p["boundary_arn"] = p["boundary_arn"] + "-renamed"

        for what, mutate, expect in (
            ("ec2:* from the boundary", drop_ec2, "which the permissions boundary does not allow"),
            ("the boundary's name (renamed in github_oidc only)", rename, "looks up"),
        ):
            broken = copy.deepcopy(policies)
            mutate(broken)
            found = check(broken, render_dir, args.region, quiet=True)
            if not any(expect in e for e in found):
                sys.exit(f"deploy_permissions: changing {what} went unnoticed; the check is broken")
            print(f"self-test: changing {what} fails the check")
    print("deploy permissions: ok")


if __name__ == "__main__":
    main()
