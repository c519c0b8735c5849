#!/usr/bin/env python3
"""Lint every IAM policy document the Terraform modules and rendered roots contain.

    iam_policies.py [--modules MODULES_DIR] DIR... [-v]

Policies found (in every directory with .tf files under each DIR):
- `data "aws_iam_policy_document"` blocks, converted to policy JSON the way the provider
  does (statement, principals, condition, dynamic blocks, for_each instances);
- `jsonencode({...})` values with a `Statement` anywhere in a module (resource arguments,
  locals, module arguments), and JSON text with a `Statement` (heredocs, file());
- `.json` files shipped in the modules (a controller's vendored policy, for example).

Values Terraform only knows later are replaced with plausible ones of the right kind: an
ARN of the referenced resource type (`aws_sqs_queue.x.arn` -> an SQS queue ARN), names
that say what they are (`var.queue_arn`), otherwise an ARN the statement's first action
accepts; the account, partition and region data sources get fixed example values.
An action list that is not known statically is skipped and counted (-v lists them).

Each statement is analysed with parliament (`analyze_policy_string`, offline: its AWS
action catalogue ships in the package). Findings listed in ERRORS fail the check and are
printed as `file:line: ...`; the types in IGNORED are dropped for the reasons given there.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "schema"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import hcl  # noqa: E402
import hcleval  # noqa: E402
from hcleval import ACCOUNT, PARTITION, REGION, Unknown, evaluate  # noqa: E402

# Parliament finding types that fail the check: the policy would be refused by IAM, or
# would not do what it says (an action that does not exist, a condition operator or key
# that does not apply, a resource the action can never match).
ERRORS = {
    "EXCEPTION", "MALFORMED_JSON", "MALFORMED", "DUPLICATE_SID", "UNKNOWN_ACTION",
    "UNKNOWN_PREFIX", "UNKNOWN_PRINCIPAL", "UNKNOWN_FEDERATION_SOURCE", "UNKNOWN_OPERATOR",
    "UNKNOWN_CONDITION_FOR_ACTION", "MISMATCHED_TYPE", "MISMATCHED_TYPE_OPERATION_TO_NULL",
    "BAD_PATTERN_FOR_MFA", "INVALID_SID", "INVALID_ARN", "INVALID_VERSION", "NO_VERSION",
    "RESOURCE_MISMATCH", "RESOURCE_EFFECTIVELY_STAR",
}
# Dropped, and why:
IGNORED = {
    # A least-privilege hint, not an error: "*" is required for List/Describe actions and
    # is used deliberately with a region or tag condition (the deploy role's boundary).
    "RESOURCE_STAR": "hint",
    # StringEquals on an ARN-valued key works (IAM compares the strings); ArnEquals is only
    # a style preference.
    "MISMATCHED_TYPE_BUT_USABLE": "works as written",
    # Informational: 2008-10-17 policies still work (and none are written here).
    "OLD_VERSION": "informational",
    # A heuristic about resource policies that grant policy writes but not deletes; the
    # policies here are identity and trust policies, reviewed by deploy_permissions.
    "RESOURCE_POLICY_PRIVILEGE_ESCALATION": "heuristic",
}
# Narrower exceptions inside error types, each matched on the finding's detail:
#  - web-identity condition keys are named after the OIDC provider host
#    (`oidc.eks.REGION.amazonaws.com/id/X:sub`, `token.actions.githubusercontent.com:sub`);
#    IAM documents them for sts:AssumeRoleWithWebIdentity, parliament's catalogue only
#    knows service keys (whose prefix never contains a dot);
#  - parliament knows only the built-in federation sources (Cognito, Google, Facebook,
#    Amazon, SAML); an IAM OIDC provider ARN is an equally valid Federated principal;
#  - a trust policy's statements (Principal plus sts:* actions only) have no Resource.
#  - parliament's catalogue has several entries for some prefixes (elasticloadbalancing has
#    three) and checks a condition key against one of them; a key that any entry lists for
#    the action is valid (`elasticloadbalancing:CreateAction` on AddTags);
#  - with a wildcard action (`kms:Describe*`, `eks:*`) parliament checks every action the
#    wildcard expands to; the wildcard grants what the resource and condition match, so a
#    mismatch is reported only for actions written out, or when the condition key applies
#    to none of the wildcard's actions;
#  - encryption-context keys are typed String in the catalogue, yet hold ARNs for AWS
#    services' contexts; ArnLike on `kms:EncryptionContext:aws:logs:arn` is AWS's own
#    example (CloudWatch Logs, "Encrypt log data using AWS KMS");
#  - AWS managed policies have the account `aws` in their ARN (`arn:aws:iam::aws:policy/X`).
OIDC_KEY = re.compile(r"Unknown condition ([\w.-]+\.[\w.-]+(/[\w./-]+)?:\w+) for action sts:AssumeRoleWithWebIdentity")
OIDC_PROVIDER = re.compile(r"^arn:aws[\w-]*:iam::\d{12}:oidc-provider/[\w.-]+(/[\w./-]+)?$")

# Resource types whose ARN a reference like `aws_X.name.arn` stands for.
ARN_OF_TYPE = {
    "aws_sqs_queue": "arn:aws:sqs:{r}:{a}:example",
    "aws_s3_bucket": "arn:aws:s3:::example",
    "aws_sns_topic": "arn:aws:sns:{r}:{a}:example",
    "aws_kms_key": "arn:aws:kms:{r}:{a}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "aws_kms_alias": "arn:aws:kms:{r}:{a}:alias/example",
    "aws_secretsmanager_secret": "arn:aws:secretsmanager:{r}:{a}:secret:example-AbCdEf",
    "aws_cloudwatch_log_group": "arn:aws:logs:{r}:{a}:log-group:example",
    "aws_ecr_repository": "arn:aws:ecr:{r}:{a}:repository/example",
    "aws_eks_cluster": "arn:aws:eks:{r}:{a}:cluster/example",
    "aws_iam_role": "arn:aws:iam::{a}:role/example",
    "aws_iam_policy": "arn:aws:iam::{a}:policy/example",
    "aws_iam_openid_connect_provider": "arn:aws:iam::{a}:oidc-provider/oidc.eks.{r}.amazonaws.com/id/EXAMPLE",
    "aws_db_instance": "arn:aws:rds:{r}:{a}:db:example",
    "aws_dynamodb_table": "arn:aws:dynamodb:{r}:{a}:table/example",
    "aws_lb": "arn:aws:elasticloadbalancing:{r}:{a}:loadbalancer/app/example/1234567890abcdef",
}
# Words in a reference's name that say what it holds (`var.queue_arn`, `module.x.bucket_arn`).
ARN_OF_WORD = [
    ("oidc_provider", "aws_iam_openid_connect_provider"), ("queue", "aws_sqs_queue"),
    ("bucket", "aws_s3_bucket"), ("topic", "aws_sns_topic"), ("kms", "aws_kms_key"),
    ("secret", "aws_secretsmanager_secret"), ("log_group", "aws_cloudwatch_log_group"),
    ("repository", "aws_ecr_repository"), ("cluster_arn", "aws_eks_cluster"),
    ("role_arn", "aws_iam_role"), ("policy_arn", "aws_iam_policy"), ("table", "aws_dynamodb_table"),
]
OIDC_HOST = f"oidc.eks.{REGION}.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"

# Actions newer than parliament's catalogue, each with where AWS publishes it.
NEWER_THAN_CATALOGUE = {
    # ELBv2 ModifyIpPools (IPAM pools for load balancers, 2025); in the AWS Load Balancer
    # Controller's published iam_policy.json since v2.13.
    "elasticloadbalancing:modifyippools",
}

_catalogue = None


def catalogue():
    global _catalogue
    if _catalogue is None:
        import parliament  # noqa: PLC0415

        _catalogue = {}
        for svc in parliament.iam_definition:
            _catalogue.setdefault(svc["prefix"], []).append(svc)
    return _catalogue


def _privileges(action):
    prefix, _, name = action.partition(":")
    pat = re.compile("^" + re.escape(name).replace("\\*", ".*").replace("\\?", ".") + "$", re.I)
    for svc in catalogue().get(prefix.lower(), []):
        for p in svc["privileges"]:
            if pat.match(p["privilege"]):
                yield svc, p


def key_applies(key, action):
    """Whether any catalogue entry lists the condition key for the action (or its wildcard)."""
    if key.lower().startswith("aws:"):
        return True
    for svc, p in _privileges(action):
        keys = [k for rt in p["resource_types"] for k in rt["condition_keys"]]
        for r in svc["resources"]:
            if any(r["resource"] == rt["resource_type"].rstrip("*") for rt in p["resource_types"]):
                keys += r.get("condition_keys", [])
        for k in keys:
            if re.fullmatch(re.sub(r"\\\$\\\{\w+\\\}", ".+", re.escape(k)), key, re.I):
                return True
    return False


def _literal(action, statement):
    acts = statement.get("Action", []) + statement.get("NotAction", [])
    return any(a.lower() == action.lower() for a in acts)


def _wildcards_for(action, statement):
    acts = statement.get("Action", []) + statement.get("NotAction", [])
    out = []
    for a in acts:
        if "*" in a or "?" in a:
            pat = re.escape(a).replace("\\*", ".*").replace("\\?", ".")
            if re.fullmatch(pat, action, re.I):
                out.append(a)
    return out


def arn_for_action(action):
    """An ARN the action accepts (its first resource type), or "*" when it takes none."""
    if ":" not in action or "*" in action:
        return "*"
    prefix, name = action.split(":", 1)
    found = next(iter(_privileges(action)), None)
    if not found:
        return "*"
    svc, priv = found
    if not priv["resource_types"] or not priv["resource_types"][0]["resource_type"]:
        return "*"
    rtype = priv["resource_types"][0]["resource_type"].rstrip("*")
    res = next((r for r in svc["resources"] if r["resource"] == rtype), None)
    if not res:
        return "*"
    arn = res["arn"].replace("${Partition}", PARTITION).replace("${Region}", REGION).replace("${Account}", ACCOUNT)
    return re.sub(r"\$\{\w+\}", "example", arn)


def guess_arn(text, actions):
    m = re.search(r"\b(aws_[a-z0-9_]+)\.[\w-]+(\[[^\]]*\])?\.arn\b", text)
    if m and m.group(1) in ARN_OF_TYPE:
        return ARN_OF_TYPE[m.group(1)].format(r=REGION, a=ACCOUNT), "type"
    last = re.split(r"[.\[]", text)[-1].lower() if text else ""
    tail = text.lower().rsplit(".", 2)[-2:] if "." in text else [text.lower()]
    # The attribute's own name first (`module.queue.events_topic_arn` holds a topic),
    # then the module's or resource's name.
    for word, rtype in ARN_OF_WORD:
        if word in last:
            return ARN_OF_TYPE[rtype].format(r=REGION, a=ACCOUNT), "name"
    for word, rtype in ARN_OF_WORD:
        if any(word in t for t in tail):
            return ARN_OF_TYPE[rtype].format(r=REGION, a=ACCOUNT), "name"
    first = next((a for a in actions if isinstance(a, str)), "")
    if not first:
        # An ARN-valued condition with nothing to go by: any well-formed ARN.
        return f"arn:aws:iam::{ACCOUNT}:role/example", "any"
    return arn_for_action(first), "action"


def guess_part(text):
    t = text.lower()
    if "partition" in t:
        return PARTITION
    if "account" in t:
        return ACCOUNT
    if "region" in t:
        return REGION
    if "dns_suffix" in t:
        return "amazonaws.com"
    if any(w in t for w in ("oidc", "issuer", "provider_url")):
        return OIDC_HOST
    return "example"


def _one(values):
    return values[0] if len(values) == 1 else values


class Concretizer:
    """Turns an evaluated policy (with Unknowns) into JSON-able values, recording what it replaced."""

    def __init__(self):
        self.notes = []

    def text(self, v, resource_ctx=None):
        if isinstance(v, hcleval._Partial):
            out = []
            for i, p in enumerate(v.parts):
                if isinstance(p, (str, int, float, bool)) and not isinstance(p, Unknown):
                    out.append(hcleval._tostr(p))
                elif isinstance(p, hcleval._Partial):
                    out.append(self.text(p, resource_ctx if i == 0 else None))
                elif i == 0 and resource_ctx is not None and isinstance(p, Unknown) and re.search(r"arn\b", p.text):
                    arn, how = guess_arn(p.text, resource_ctx)
                    self.notes.append(f"{p.text} -> {arn} ({how})")
                    out.append(arn)
                else:
                    out.append(guess_part(p.text if isinstance(p, Unknown) else str(p)))
            return "".join(out)
        if isinstance(v, Unknown):
            if resource_ctx is not None:
                arn, how = guess_arn(v.text, resource_ctx)
                self.notes.append(f"{v.text} -> {arn} ({how})")
                return arn
            return guess_part(v.text)
        if isinstance(v, (dict, list)):
            return json.dumps(v)
        return hcleval._tostr(v) if not isinstance(v, str) else v

    def strings(self, v, resource_ctx=None, drop_unknown=False):
        if v is None:
            return []
        items = v if isinstance(v, list) else [v]
        out = []
        for x in items:
            if isinstance(x, list):
                out.extend(self.strings(x, resource_ctx, drop_unknown))
            elif isinstance(x, Unknown) and not isinstance(x, hcleval._Partial) and drop_unknown:
                self.notes.append(f"{x.text}: not known statically, not checked")
            else:
                out.append(self.text(x, resource_ctx))
        return out

    def principal(self, ptype, ids):
        out = []
        for x in ids if isinstance(ids, list) else [ids]:
            if isinstance(x, Unknown) and not isinstance(x, hcleval._Partial):
                if ptype == "Federated":
                    out.append(f"arn:aws:iam::{ACCOUNT}:oidc-provider/{OIDC_HOST}")
                elif ptype == "Service":
                    out.append("ec2.amazonaws.com")
                else:
                    out.append(f"arn:aws:iam::{ACCOUNT}:role/example")
                self.notes.append(f"{x.text} -> {out[-1]}")
            else:
                out.append(self.text(x))
        return out

    def statement(self, st):
        """A JSON-ish statement dict (from jsonencode) with Unknowns replaced."""
        if not isinstance(st, dict):
            return None
        out = {}
        actions = st.get("Action", st.get("NotAction", []))
        actions = actions if isinstance(actions, list) else [actions]
        for k, v in st.items():
            if k in ("Action", "NotAction"):
                out[k] = self.strings(v, drop_unknown=True)
            elif k in ("Resource", "NotResource"):
                out[k] = self.strings(v, resource_ctx=[a for a in actions if isinstance(a, str)])
            elif k in ("Principal", "NotPrincipal"):
                if isinstance(v, dict):
                    out[k] = {pt: self.principal(pt, ids) for pt, ids in v.items()}
                else:
                    out[k] = self.text(v)
            elif k == "Condition" and isinstance(v, dict):
                cond = {}
                for op, kv in v.items():
                    if not isinstance(kv, dict):
                        continue
                    # Like the provider's JSON: a one-element value list is written as a string.
                    op_s = self.text(op)
                    cond[op_s] = {}
                    for key, val in kv.items():
                        key_s = self.text(key)
                        arn_valued = op_s.startswith("Arn") or key_s.lower().endswith("arn")
                        cond[op_s][key_s] = _one(self.strings(val, resource_ctx=[] if arn_valued else None))
                out[k] = cond
            else:
                out[k] = self.text(v)
        return out


# ----------------------------------------------------------------------------- discovery


def _blocks_with_dynamic(body, btype, env, scope):
    """(body, env) of every `btype` block, dynamic ones expanded where for_each is known."""
    out = [(b.body, env) for b in body.blocks_of(btype)]
    for d in body.blocks_of("dynamic"):
        if d.labels != [btype]:
            continue
        content = d.body.blocks_of("content")
        if not content:
            continue
        it = d.body.attr("iterator")
        name = it.value.text.strip() if it else btype
        fe = d.body.attr("for_each")
        coll = evaluate(fe.value, scope, env) if fe else Unknown("for_each")
        if isinstance(coll, dict):
            pairs = list(coll.items())
        elif isinstance(coll, list):
            pairs = list(enumerate(coll))
        else:
            pairs = None
        if pairs is None:
            out.append((content[0].body, {**env, name: Unknown(f"{name}.value")}))
        else:
            for k, v in pairs:
                out.append((content[0].body, {**env, name: {"key": k, "value": v}}))
    return out


def _attr(body, name, scope, env):
    a = body.attr(name)
    return evaluate(a.value, scope, env) if a else None


def policy_document(block, scope, env):
    """The JSON policy an aws_iam_policy_document block renders (as the provider builds it)."""
    body = block.body
    statements = []
    for sbody, senv in _blocks_with_dynamic(body, "statement", env, scope):
        st = {}
        sid = _attr(sbody, "sid", scope, senv)
        if sid is not None:
            st["Sid"] = sid
        st["Effect"] = _attr(sbody, "effect", scope, senv) or "Allow"
        for hcl_name, key in (("actions", "Action"), ("not_actions", "NotAction"), ("resources", "Resource"), ("not_resources", "NotResource")):
            v = _attr(sbody, hcl_name, scope, senv)
            if v is not None:
                st[key] = v
        for hcl_name, key in (("principals", "Principal"), ("not_principals", "NotPrincipal")):
            ps = _blocks_with_dynamic(sbody, hcl_name, senv, scope)
            if ps:
                principal = {}
                for pbody, penv in ps:
                    ptype = _attr(pbody, "type", scope, penv)
                    ids = _attr(pbody, "identifiers", scope, penv)
                    ids = ids if isinstance(ids, list) else [ids]
                    if ptype == "*":
                        principal = "*"
                        break
                    principal.setdefault(ptype if isinstance(ptype, str) else "AWS", []).extend(ids)
                st[key] = principal
        conds = _blocks_with_dynamic(sbody, "condition", senv, scope)
        if conds:
            c = {}
            for cbody, cenv in conds:
                test = _attr(cbody, "test", scope, cenv)
                var = _attr(cbody, "variable", scope, cenv)
                vals = _attr(cbody, "values", scope, cenv)
                c.setdefault(test if isinstance(test, str) else Unknown("test"), {})[var if isinstance(var, str) else var] = vals
            st["Condition"] = c
        statements.append(st)
    version = _attr(body, "version", scope, env) or "2012-10-17"
    return {"Version": version, "Statement": statements}


def _find_policies(value, found):
    """Policy dicts inside an evaluated value (jsonencode'd or decoded)."""
    if isinstance(value, hcleval._JsonText):
        _find_policies(value.value, found)
        return
    if isinstance(value, str):
        s = value.strip()
        if s.startswith("{") and '"Statement"' in s:
            try:
                _find_policies(json.loads(s), found)
            except ValueError:
                found.append(("unparsable", s))
        return
    if isinstance(value, dict):
        if "Statement" in value:
            found.append(("policy", value))
            return
        for v in value.values():
            _find_policies(v, found)
    elif isinstance(value, list):
        for v in value:
            _find_policies(v, found)


def module_policies(module):
    """(path, line, label, policy-with-Unknowns) for one module."""
    scope = hcleval.Scope(module.dir, [b for _, b in module.files])
    out = []
    for path, body in module.files:
        for b in body.blocks:
            if b.type == "data" and b.labels[:1] == ["aws_iam_policy_document"]:
                label = f'data.aws_iam_policy_document.{b.labels[1]}'
                fe = b.body.attr("for_each")
                instances = [({}, "")]
                if fe is not None:
                    coll = evaluate(fe.value, scope, {})
                    if isinstance(coll, dict):
                        instances = [({"each": {"key": k, "value": v}}, f'["{k}"]') for k, v in coll.items()]
                    elif isinstance(coll, list):
                        instances = [({"each": {"key": v, "value": v}}, f'["{v}"]') for v in coll]
                    else:
                        instances = [({"each": Unknown("each")}, "[each]")]
                for env, suffix in instances:
                    out.append((path, b.line, label + suffix, policy_document(b, scope, env)))
                continue
            # Any other argument (resources, locals, module calls, outputs) holding a policy.
            for a, where in _all_attributes(b):
                if a.name in ("for_each", "count", "depends_on"):
                    continue
                env = {"each": Unknown("each"), "count": Unknown("count")}
                found = []
                _find_policies(evaluate(a.value, scope, env), found)
                for kind, pol in found:
                    out.append((path, a.line, f"{where}.{a.name}", pol if kind == "policy" else {"__unparsable__": pol}))
    return out


def _all_attributes(block, prefix=None):
    where = prefix or ".".join([block.type] + block.labels)
    for a in block.body.attributes:
        yield a, where
    for inner in block.body.blocks:
        yield from _all_attributes(inner, f"{where}.{inner.type}")


def json_file_policies(directory):
    out = []
    for f in sorted(Path(directory).glob("*.json")):
        try:
            doc = json.loads(f.read_text())
        except ValueError as e:
            out.append((f, 1, f.name, {"__unparsable__": str(e)}))
            continue
        if isinstance(doc, dict) and "Statement" in doc:
            out.append((f, 1, f.name, doc))
    return out


# ----------------------------------------------------------------------------- linting


def statement_line(path, base_line, statement, detail):
    """Best line for a finding: the line naming what it is about (the action or operator
    in its detail), else the statement's Sid or first action, searched from the policy's
    own line on."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return base_line
    needles = re.findall(r"[\w-]+:[\w*?-]+", detail.split(" needs ")[0]) + detail.split()[-1:]
    if isinstance(statement.get("Sid"), str):
        needles.append(statement["Sid"])
    acts = statement.get("Action") or statement.get("NotAction") or []
    needles += [a for a in (acts if isinstance(acts, list) else [acts]) if isinstance(a, str)]
    for needle in needles:
        for n in range(max(base_line - 1, 0), len(lines)):
            if f'"{needle}"' in lines[n]:
                return n + 1
    return base_line


def lint(policy, conc):
    """Findings for one policy: [(statement index or None, issue, detail)]."""
    from parliament import analyze_policy_string  # noqa: PLC0415

    findings = []
    if "__unparsable__" in policy:
        return [(None, "MALFORMED_JSON", str(policy["__unparsable__"])[:200]), ], []
    stmts = policy.get("Statement")
    stmts = stmts if isinstance(stmts, list) else [stmts]
    version = policy.get("Version")
    sids = {}
    concrete = []
    for i, st in enumerate(stmts):
        c = conc.statement(st)
        if c is None:
            findings.append((i, "MALFORMED", "a statement is not an object"))
            continue
        concrete.append((i, c))
        sid = c.get("Sid")
        if sid:
            if sid in sids:
                findings.append((i, "DUPLICATE_SID", f"Sid {sid} is used twice"))
            sids[sid] = i
    for i, c in concrete:
        if not (c.get("Action") or c.get("NotAction")):
            continue  # every action was unknown statically: nothing to check
        doc = {"Statement": [c]}
        if version is not None:
            doc = {"Version": conc.text(version), "Statement": [c]}
        try:
            pol = analyze_policy_string(json.dumps(doc), ignore_private_auditors=True)
        except Exception as e:  # noqa: BLE001 - parliament fails on some malformed input
            findings.append((i, "EXCEPTION", f"parliament could not analyse the statement: {e}"))
            continue
        trust = "Principal" in c and all(str(a).startswith("sts:") for a in c.get("Action", []))
        for f in pol.findings:
            detail = f.detail if isinstance(f.detail, str) else json.dumps(f.detail)
            if f.issue in IGNORED:
                continue
            if f.issue == "UNKNOWN_CONDITION_FOR_ACTION" and OIDC_KEY.search(detail):
                continue
            if f.issue == "UNKNOWN_FEDERATION_SOURCE" and OIDC_PROVIDER.match(detail.strip()):
                continue
            if f.issue == "MALFORMED" and trust and "neither Resource nor NotResource" in detail:
                continue
            if f.issue == "UNKNOWN_ACTION" and detail.split()[-1].lower() in NEWER_THAN_CATALOGUE:
                continue
            if f.issue == "UNKNOWN_CONDITION_FOR_ACTION":
                m = re.match(r"Unknown condition (\S+) for action (\S+)", detail)
                if m:
                    key, action = m.groups()
                    if _literal(action, c):
                        if key_applies(key, action):
                            continue
                    elif any(key_applies(key, w) for w in _wildcards_for(action, c)):
                        continue
                    detail = f"condition key {key} does not apply to {action}"
                    if (i, f.issue, detail) in findings:
                        continue
            if f.issue == "RESOURCE_MISMATCH" and isinstance(f.detail, list):
                literal = [d for d in f.detail if _literal(d.get("action", ""), c)]
                if not literal:
                    continue
                detail = "; ".join(f"{d['action']} needs a resource like {d['required_format']}" for d in literal)
            if f.issue == "MISMATCHED_TYPE" and "requires a value of type Arn but given String" in detail:
                arn_ops = {k for op, kv in (c.get("Condition") or {}).items() if op.startswith("Arn") for k in kv}
                if arn_ops and all(k.lower().startswith("kms:encryptioncontext:") for k in arn_ops):
                    continue
            if f.issue == "INVALID_ARN" and "Account expected" in detail:
                res = c.get("Resource", []) + c.get("NotResource", [])
                if all(re.match(r"^(\*|arn:[\w-]+:[\w-]+:[\w-]*:(\d{12}|\*|)?:.*|arn:[\w-]+:iam::aws:policy/.*)$", r) for r in res):
                    continue
            if (i, f.issue, detail) not in findings:
                findings.append((i, f.issue, detail))
    return findings, concrete


def main(argv):
    verbose = "-v" in argv
    args = [a for a in argv if a != "-v"]
    originals = None
    if args[:1] == ["--modules"]:
        originals = args[1]
        args = [originals] + args[2:]
    if not args:
        print(__doc__)
        return 2
    import provider_schema  # noqa: PLC0415 - shares the module discovery and parse checks

    modules, parse_errors = provider_schema.collect_modules(args, originals)
    errors = [f"{p}:{l}: {m}" for p, l, m in parse_errors]
    policies = []
    for m in modules:
        policies += module_policies(m)
        policies += json_file_policies(m.dir)
    seen = set()
    checked = 0
    statements = 0
    skipped_notes = []
    for path, line, label, pol in policies:
        conc = Concretizer()
        findings, concrete = lint(pol, conc)
        key = json.dumps([c for _, c in concrete], sort_keys=True) + str(findings)
        if key in seen:
            continue  # the same document reached twice (a local and the resource using it)
        seen.add(key)
        checked += 1
        statements += len(concrete)
        for i, issue, detail in findings:
            st = next((c for j, c in concrete if j == i), {}) if i is not None else {}
            ln = statement_line(path, line, st, detail) if i is not None else line
            sid = f" statement {st.get('Sid') or i}" if i is not None else ""
            errors.append(f"{path}:{ln}: {label}{sid}: {issue}: {detail}")
        if verbose:
            for n in conc.notes:
                print(f"{path}:{line}: {label}: {n}")
        skipped_notes += [n for n in conc.notes if "not checked" in n]
    for e in errors:
        print(e)
    print(f"iam_policies: {checked} policy documents ({statements} statements) from {len(modules)} modules linted with parliament; "
          f"{len(skipped_notes)} action lists not known statically; {len(errors)} findings", file=sys.stderr)
    if checked == 0:
        print("iam_policies: no policy document was found", file=sys.stderr)
        return 1
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
