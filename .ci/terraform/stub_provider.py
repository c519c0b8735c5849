"""A Terraform provider (plugin protocol 6) with a real provider's schema and no cloud behind it.

Run by Terraform as `terraform-provider-NAME` (see prepare.py). Built on PyPI `tf`: its
go-plugin runner and tfplugin6 messages, its schema classes with the types it lacks added
here (object, tuple, dynamic: any cty type expression), and a servicer that works from the
schema alone, for every resource type the provider has:

- plan: configured values are kept; computed attributes the configuration leaves null are
  planned unknown on create (the real providers do the same), and keep their prior value
  on update; destroy plans null;
- apply: unknowns become plausible values (ids with the real prefixes, ARNs in the
  provider's region and account 123456789012, endpoints, one element for computed nested
  lists such as an EKS cluster's `identity`); `tags_all` is the provider's `default_tags`
  merged with `tags`, as the AWS provider plans it;
- data sources answer what the roots read: account, partition, region, availability
  zones, `aws_iam_policy_document` JSON built from its statements, `tls_certificate`
  fingerprints, `aws_eks_cluster_auth` tokens; anything else computed gets a generated
  value of its type;
- read returns the stored state (nothing drifts behind Terraform's back);
- for tests only (`ENVCTL_STUB_MOTO=1` with `AWS_ENDPOINT_URL`), the few types envctl
  reads back from AWS after an apply are created in, read from and deleted in moto, with
  moto's ids and ARNs as their computed attributes (moto_backed.py lists them).

Terraform core itself checks every configuration against the schema (unknown arguments,
missing required ones, blocks written as arguments, types) and checks each plan and
apply result against the rules for providers; this stub only has to answer consistently.
"""

import hashlib
import json
import os
import sys
from pathlib import Path

from tf import schema as tfschema
from tf import types as tftypes
from tf.gen import tfplugin_pb2 as pb
from tf.provider import ProviderServicer
from tf.runner import run_provider
from tf.types import Unknown
from tf.utils import Diagnostics, read_dynamic_value, to_dynamic_value

import moto_backed

ACCOUNT_ID = "123456789012"


class CtyType(tftypes.TfType):
    """Any cty type, from its JSON type expression: `tf` ships only string, number, bool,
    list, set and map; objects (an EKS cluster's `identity`), tuples and `dynamic` are
    needed too. Values pass through as the msgpack decoder gives them."""

    def __init__(self, expr):
        self.expr = expr

    def tf_type(self):
        return json.dumps(self.expr, separators=(",", ":")).encode()

    def encode(self, value):
        return value

    def decode(self, value):
        return value


class NestedAttribute(tfschema.Attribute):
    """An attribute with nested attributes (`set = [{ name = ..., value = ... }]`),
    which `tf`'s Attribute cannot express."""

    _modes = {
        "single": pb.Schema.Object.NestingMode.SINGLE,
        "list": pb.Schema.Object.NestingMode.LIST,
        "set": pb.Schema.Object.NestingMode.SET,
        "map": pb.Schema.Object.NestingMode.MAP,
    }

    def __init__(self, name, nested_attrs, mode, **kw):
        super().__init__(name, CtyType("dynamic"), **kw)
        self.nested_attrs = nested_attrs
        self.mode = mode

    def to_pb(self):
        return pb.Schema.Attribute(
            name=self.name,
            nested_type=pb.Schema.Object(
                attributes=[a.to_pb() for a in self.nested_attrs], nesting=self._modes[self.mode]
            ),
            required=self.required or None,
            optional=self.optional or None,
            computed=self.computed or None,
            sensitive=self.sensitive,
        )


class AnyNestedBlock(tfschema.NestedBlock):
    """A nested block in any nesting mode (`tf` has set and single only; the AWS provider's
    blocks are mostly lists)."""

    _modes = {
        "single": pb.Schema.NestedBlock.NestingMode.SINGLE,
        "list": pb.Schema.NestedBlock.NestingMode.LIST,
        "set": pb.Schema.NestedBlock.NestingMode.SET,
        "map": pb.Schema.NestedBlock.NestingMode.MAP,
        "group": pb.Schema.NestedBlock.NestingMode.GROUP,
    }

    def __init__(self, type_name, mode, block, min_items=None, max_items=None):
        super().__init__(type_name, tfschema.NestMode.Single, block, min_items, max_items)
        self.mode = mode

    def to_pb(self):
        return pb.Schema.NestedBlock(
            type_name=self.type_name,
            block=self.block.to_pb(),
            min_items=self.min_items,
            max_items=self.max_items,
            nesting=self._modes[self.mode],
        )

    def encode(self, value):
        return value

    def decode(self, value):
        return value

    def semantically_equal(self, a, b):
        return a == b


def _attr_to_tf(name, a):
    flags = dict(
        required=a.get("required", False),
        optional=a.get("optional", False),
        computed=a.get("computed", False),
        sensitive=a.get("sensitive", False),
    )
    if "nested_type" in a:
        nt = a["nested_type"]
        inner = [_attr_to_tf(n, x) for n, x in sorted(nt["attributes"].items())]
        return NestedAttribute(name, inner, nt["nesting_mode"], **flags)
    return tfschema.Attribute(name, CtyType(a["type"]), **flags)


def _block_to_tf(block):
    return tfschema.Block(
        attributes=[_attr_to_tf(n, a) for n, a in sorted(block.get("attributes", {}).items())],
        block_types=[
            AnyNestedBlock(n, b["nesting_mode"], _block_to_tf(b["block"]), b.get("min_items"), b.get("max_items"))
            for n, b in sorted(block.get("block_types", {}).items())
        ],
    )


def schema_response(doc):
    """The GetProviderSchema response for a schema document (cdktf_schema.py's output)."""

    def one(s):
        return tfschema.Schema(
            attributes=_block_to_tf(s["block"]).attributes,
            block_types=_block_to_tf(s["block"]).block_types,
            version=s.get("version", 0),
        ).to_pb()

    empty = pb.Schema(version=0, block=pb.Schema.Block())
    return pb.GetProviderSchema.Response(
        provider=one(doc["provider"]),
        provider_meta=empty,
        resource_schemas={k: one(v) for k, v in doc["resource_schemas"].items()},
        data_source_schemas={k: one(v) for k, v in doc["data_source_schemas"].items()},
        server_capabilities=pb.ServerCapabilities(plan_destroy=True),
    )


# ---------------------------------------------------------------- generated values


def _digest(*parts, n=17):
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:n]


# The real id shapes of the AWS resources the roots use.
ID_PREFIX = {
    "aws_vpc": "vpc-",
    "aws_subnet": "subnet-",
    "aws_security_group": "sg-",
    "aws_default_security_group": "sg-",
    "aws_internet_gateway": "igw-",
    "aws_nat_gateway": "nat-",
    "aws_eip": "eipalloc-",
    "aws_route_table": "rtb-",
    "aws_route_table_association": "rtbassoc-",
    "aws_launch_template": "lt-",
    "aws_flow_log": "fl-",
    "aws_vpc_security_group_ingress_rule": "sgr-",
    "aws_vpc_security_group_egress_rule": "sgr-",
    "aws_vpc_endpoint": "vpce-",
    "aws_network_acl": "acl-",
}
ATTR_ID_PREFIX = {
    "vpc_id": "vpc-",
    "subnet_id": "subnet-",
    "security_group_id": "sg-",
    "cluster_security_group_id": "sg-",
    "allocation_id": "eipalloc-",
    "network_interface_id": "eni-",
    "route_table_id": "rtb-",
    "owner_id": ACCOUNT_ID,
    "owner_account_id": ACCOUNT_ID,
    "account_id": ACCOUNT_ID,
    "security_group_rule_id": "sgr-",
    "default_security_group_id": "sg-",
    "default_network_acl_id": "acl-",
    "default_route_table_id": "rtb-",
    "resource_id": "db-",
    "main_route_table_id": "rtb-",
}
# ARN service and resource path per resource type (the real formats).
ARN_FORMAT = {
    "aws_iam_role": ("iam", "", "role/{name}"),
    "aws_iam_policy": ("iam", "", "policy/{name}"),
    "aws_iam_openid_connect_provider": ("iam", "", "oidc-provider/{url_host}"),
    "aws_eks_cluster": ("eks", "R", "cluster/{name}"),
    "aws_eks_node_group": ("eks", "R", "nodegroup/{cluster_name}/{node_group_name}/{digest}"),
    "aws_eks_addon": ("eks", "R", "addon/{cluster_name}/{addon_name}/{digest}"),
    "aws_eks_access_entry": ("eks", "R", "access-entry/{cluster_name}/role/{digest}"),
    "aws_kms_key": ("kms", "R", "key/{uuid}"),
    "aws_kms_alias": ("kms", "R", "{name}"),
    "aws_sqs_queue": ("sqs", "R", "{name}"),
    "aws_sns_topic": ("sns", "R", "{name}"),
    "aws_s3_bucket": ("s3", "", "{bucket}"),
    "aws_cloudwatch_log_group": ("logs", "R", "log-group:{name}"),
    "aws_db_instance": ("rds", "R", "db:{identifier}"),
    "aws_db_subnet_group": ("rds", "R", "subgrp:{name}"),
    "aws_db_parameter_group": ("rds", "R", "pg:{name}"),
    "aws_secretsmanager_secret": ("secretsmanager", "R", "secret:{name}-{short}"),
    "aws_ecr_repository": ("ecr", "R", "repository/{name}"),
    "aws_vpc": ("ec2", "R", "vpc/{id}"),
    "aws_subnet": ("ec2", "R", "subnet/{id}"),
    "aws_security_group": ("ec2", "R", "security-group/{id}"),
    "aws_default_security_group": ("ec2", "R", "security-group/{id}"),
    "aws_launch_template": ("ec2", "R", "launch-template/{id}"),
    "aws_internet_gateway": ("ec2", "R", "internet-gateway/{id}"),
    "aws_route_table": ("ec2", "R", "route-table/{id}"),
    "aws_flow_log": ("ec2", "R", "vpc-flow-log/{id}"),
    "aws_vpc_security_group_ingress_rule": ("ec2", "R", "security-group-rule/{id}"),
}


class Values:
    """Plausible values for what the provider computes."""

    def __init__(self, provider, region):
        self.provider = provider
        self.region = region

    def arn(self, type_name, obj):
        svc, regional, path = ARN_FORMAT.get(type_name, (type_name.split("_")[1] if "_" in type_name else "svc", "R",
                                                          type_name + "/{digest}"))
        fields = {k: v for k, v in obj.items() if isinstance(v, str)}
        url = fields.get("url", "") or ""
        fields.setdefault("name", fields.get("name_prefix", "") + _digest(type_name, obj.get("name_prefix"), n=8)
                          if not fields.get("name") else fields["name"])
        fields.update(digest=_digest(type_name, json.dumps(obj, default=str, sort_keys=True), n=32),
                      uuid=self.uuid(type_name, obj), short=_digest(type_name, n=6),
                      url_host=url.split("://", 1)[-1])

        class D(dict):
            def __missing__(self, k):
                return _digest(k, n=12)

        resource = path.format_map(D(fields))
        region = self.region if regional == "R" else ""
        return f"arn:aws:{svc}:{region}:{ACCOUNT_ID if svc != 's3' else ''}:{resource}"

    def uuid(self, *parts):
        h = _digest(*parts, n=32)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"

    def string(self, type_name, name, obj):
        """A string for computed attribute `name` of `type_name` (object `obj` so far)."""
        d = _digest(type_name, name, json.dumps(obj, default=str, sort_keys=True))
        if name == "id":
            if type_name in ID_PREFIX:
                return ID_PREFIX[type_name] + d
            if type_name == "aws_sqs_queue":
                return f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT_ID}/{obj.get('name')}"
            for key in ("name", "bucket", "identifier", "cluster_name", "role", "arn"):
                if isinstance(obj.get(key), str):
                    return obj[key]
            return d
        if name in ATTR_ID_PREFIX:
            p = ATTR_ID_PREFIX[name]
            return p if p == ACCOUNT_ID else p + d
        if name == "arn" or name.endswith("_arn"):
            return self.arn(type_name, obj)
        if name == "region":
            return self.region
        if name in ("availability_zone",):
            return self.region + "a"
        if name == "url" and type_name == "aws_sqs_queue":
            return f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT_ID}/{obj.get('name')}"
        if name == "endpoint" and type_name == "aws_eks_cluster":
            return f"https://{d.upper()}.gr7.{self.region}.eks.amazonaws.com"
        if name in ("endpoint", "address") and type_name.startswith("aws_db_"):
            host = f"{obj.get('identifier') or 'db'}.{d[:12]}.{self.region}.rds.amazonaws.com"
            return host if name == "address" else f"{host}:{obj.get('port') or 5432}"
        if name == "issuer":
            return f"https://oidc.eks.{self.region}.amazonaws.com/id/{d.upper()}"
        if name == "data":  # certificate authority data: base64 of a PEM
            return "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="
        if "fingerprint" in name:
            return _digest(type_name, name, n=40)
        if name in ("result", "password") or name.endswith("_string") or name.endswith("_password"):
            return "P" + _digest(type_name, name, obj.get("keepers"), n=int(obj.get("length") or 24) - 1)
        if name.endswith("json") or name == "policy":
            return "{}"
        if name in ("repository_url",):
            return f"{ACCOUNT_ID}.dkr.ecr.{self.region}.amazonaws.com/{obj.get('name')}"
        if name == "status":
            return "deployed" if type_name == "helm_release" else "ACTIVE"
        if name.endswith("cidr_block") or name.endswith("cidr"):
            return "10.0.0.0/16"
        if name.endswith("_version") or name == "version":
            return "1"
        if name.endswith("_at") or name.endswith("_date") or name.endswith("_time"):
            return "2025-01-01T00:00:00Z"
        return d

    def of_type(self, ty, type_name, name, obj):
        if ty == "string":
            return self.string(type_name, name, obj)
        if ty == "number":
            if name == "port":
                return 5432
            if name == "length":
                return 24
            return 0
        if ty == "bool":
            return False
        if ty == "dynamic":
            return None
        kind = ty[0]
        if kind in ("list", "set"):
            if isinstance(ty[1], list) and ty[1][0] == "object":
                return [self.of_type(ty[1], type_name, name, obj)]
            return []
        if kind == "map":
            return {}
        if kind == "object":
            out = {}
            for k, t in sorted(ty[1].items()):
                out[k] = self.of_type(t, type_name, k, {**obj, **out})
            return out
        if kind == "tuple":
            return [self.of_type(t, type_name, name, obj) for t in ty[1]]
        return None


# ---------------------------------------------------------------- walking values


def _plan_unknowns(block, value, create, optional_too=True):
    """Planned object: computed attributes the configuration leaves null become unknown
    on create (on update Terraform's proposal already carries the prior value).
    `optional_too=False` leaves optional+computed ones null (data sources: an argument
    left out stays out)."""
    if value is None or value is Unknown:
        return value
    out = dict(value)

    def again(b, x):
        return _plan_unknowns(b, x, create, optional_too)

    for name, a in block.get("attributes", {}).items():
        v = out.get(name)
        if v is None and a.get("computed") and create and (optional_too or not a.get("optional")):
            out[name] = Unknown
        elif v is not None and v is not Unknown and "nested_type" in a:
            out[name] = _each_nested(a["nested_type"], v, again)
    for name, b in block.get("block_types", {}).items():
        v = out.get(name)
        if v is not None and v is not Unknown:
            out[name] = _each_block(b, v, again)
    return out


def _each_nested(nt, v, f):
    blk = {"attributes": nt["attributes"]}
    mode = nt["nesting_mode"]
    if mode == "single":
        return f(blk, v)
    if mode == "map":
        return {k: f(blk, x) for k, x in v.items()}
    return [f(blk, x) for x in v]


def _has_dynamic(block):
    return any("dynamic" in json.dumps(a.get("type")) for a in block.get("attributes", {}).values()) or any(
        _has_dynamic(bt["block"]) for bt in block.get("block_types", {}).values()
    )


def _wrap_dynamic_blocks(block, obj):
    """State JSON back into what Terraform expects on the wire: a list block that holds a
    dynamically typed attribute (see _each_block) is stored as {"value", "type"} and sent
    as a dynamic value, msgpack [type JSON, value]."""
    if not isinstance(obj, dict):
        return obj
    out = dict(obj)
    for name, bt in block.get("block_types", {}).items():
        v = out.get(name)
        if isinstance(v, dict) and set(v) == {"value", "type"} and _has_dynamic(bt["block"]):
            out[name] = [json.dumps(v["type"], separators=(",", ":")).encode(), v["value"]]
    return out


def _each_block(b, v, f):
    # A list block whose schema holds a dynamically typed attribute (cdktf types what lies
    # below its generation depth `any`: aws_wafv2_web_acl's `rule.statement`) reaches the
    # provider as a dynamic value, msgpack [type JSON, value]. Configured values are kept
    # and nothing in them is computed, so it passes through as Terraform sent it.
    if isinstance(v, list) and len(v) == 2 and isinstance(v[0], bytes):
        return v
    mode = b["nesting_mode"]
    if mode in ("single", "group"):
        return f(b["block"], v)
    if mode == "map":
        return {k: f(b["block"], x) for k, x in v.items()}
    return [f(b["block"], x) for x in v]


def _fill(values, type_name, block, value):
    """Replace every unknown in an object with a generated value of its type."""
    if value is None or value is Unknown:
        return value
    out = dict(value)
    # Plain attributes first (sorted, names before ARNs), so ids and ARNs can use them.
    names = sorted(block.get("attributes", {}), key=lambda n: (n == "id" or n.endswith("arn") or n == "tags_all", n))
    for name in names:
        a = block["attributes"][name]
        v = out.get(name)
        if "nested_type" in a:
            if v is Unknown:
                out[name] = None
            elif v is not None:
                out[name] = _each_nested(a["nested_type"], v, lambda b, x: _fill(values, type_name, b, x))
            continue
        out[name] = _fill_value(values, type_name, name, a["type"], v, out)
    for name, b in block.get("block_types", {}).items():
        v = out.get(name)
        if v is Unknown:
            out[name] = [] if b["nesting_mode"] in ("list", "set") else None
        elif v is not None:
            out[name] = _each_block(b, v, lambda blk, x: _fill(values, type_name, blk, x))
    return out


def _known(value):
    """The value with every unknown left out (None)."""
    if value is Unknown:
        return None
    if isinstance(value, dict):
        return {k: _known(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_known(v) for v in value]
    return value


def _fill_value(values, type_name, name, ty, v, obj):
    if v is Unknown:
        return values.of_type(ty, type_name, name, obj)
    if v is None or isinstance(ty, str):
        return v
    kind = ty[0]
    if kind in ("list", "set"):
        return [_fill_value(values, type_name, name, ty[1], x, obj) for x in v]
    if kind == "map":
        return {k: _fill_value(values, type_name, name, ty[1], x, obj) for k, x in v.items()}
    if kind == "object":
        return {k: _fill_value(values, type_name, k, ty[1].get(k, "dynamic"), x, obj) for k, x in v.items()}
    return v


# ---------------------------------------------------------------- data sources


def _policy_document(cfg):
    """aws_iam_policy_document's `json`, as the AWS provider writes it."""

    def one_or_list(xs):
        xs = list(xs or [])
        return xs[0] if len(xs) == 1 else xs

    statements = []
    for s in cfg.get("statement") or []:
        st = {}
        if s.get("sid"):
            st["Sid"] = s["sid"]
        st["Effect"] = s.get("effect") or "Allow"
        for key, field in (("Action", "actions"), ("NotAction", "not_actions"),
                           ("Resource", "resources"), ("NotResource", "not_resources")):
            if s.get(field):
                st[key] = one_or_list(sorted(s[field], reverse=True) if key.endswith("Action") else s[field])
        for key, field in (("Principal", "principals"), ("NotPrincipal", "not_principals")):
            if s.get(field):
                p = {}
                for pr in s[field]:
                    p.setdefault(pr["type"], []).extend(pr.get("identifiers") or [])
                st[key] = "*" if p == {"*": ["*"]} else {k: one_or_list(v) for k, v in p.items()}
        if s.get("condition"):
            c = {}
            for cond in s["condition"]:
                c.setdefault(cond["test"], {})[cond["variable"]] = one_or_list(cond.get("values"))
            st["Condition"] = c
        statements.append(st)
    doc = {"Version": cfg.get("version") or "2012-10-17", "Statement": statements}
    if cfg.get("policy_id"):
        doc = {"Version": doc["Version"], "Id": cfg["policy_id"], "Statement": statements}
    return json.dumps(doc, indent=2), json.dumps(doc, separators=(",", ":"))


def read_data_source(values, type_name, block, cfg):
    state = dict(cfg)
    region = values.region
    if type_name == "aws_caller_identity":
        state.update(account_id=ACCOUNT_ID, arn=f"arn:aws:iam::{ACCOUNT_ID}:user/envctl-ci",
                     user_id="AIDA" + _digest("user", n=17).upper(), id=ACCOUNT_ID)
    elif type_name == "aws_partition":
        state.update(partition="aws", dns_suffix="amazonaws.com", reverse_dns_prefix="com.amazonaws", id="aws")
    elif type_name == "aws_region":
        r = cfg.get("region") or cfg.get("name") or region
        state.update(name=r, region=r, id=r, endpoint=f"ec2.{r}.amazonaws.com", description=r)
    elif type_name == "aws_availability_zones":
        letters = "abc" if region != "us-east-1" else "abcdef"
        state.update(names=[region + x for x in letters],
                     zone_ids=[f"{region[:2]}{region.split('-')[1][:1]}{region[-1]}-az{i + 1}" for i in range(len(letters))],
                     group_names=[region], id=region)
    elif type_name == "aws_iam_policy_document":
        pretty, minified = _policy_document(cfg)
        state.update(json=pretty, minified_json=minified, id=str(int(_digest(minified, n=8), 16)))
    elif type_name == "aws_eks_cluster_auth":
        state.update(token="k8s-aws-v1." + _digest("token", cfg.get("name"), n=40), id=cfg.get("name"))
    elif type_name == "tls_certificate":
        certs = [{"cert_pem": "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", "is_ca": True,
                  "issuer": "CN=Amazon Root CA 1", "subject": "CN=Amazon Root CA 1",
                  "not_after": "2038-01-17T00:00:00Z", "not_before": "2015-05-26T00:00:00Z",
                  "public_key_algorithm": "RSA", "serial_number": "1", "signature_algorithm": "SHA256-RSA",
                  "version": 3, "sha1_fingerprint": _digest("tls", cfg.get("url"), n=40)}]
        state.update(certificates=certs, id=_digest("tls", cfg.get("url"), n=40))
    # Arguments left out stay null, except the identifiers a lookup answers (a data
    # source found by name knows its ARN and id).
    state = _plan_unknowns(block, state, True, optional_too=False)
    for name, a in block.get("attributes", {}).items():
        lookup = name in ("id", "arn", "name", "region") or name.endswith(("_arn", "_id"))
        if lookup and a.get("computed") and state.get(name) is None:
            state[name] = Unknown
    return _fill(values, type_name, block, state)


# ---------------------------------------------------------------- the servicer


class _App:
    """What `tf`'s servicer base wants from a provider object."""

    def __init__(self, name):
        self.name = name

    def get_model_prefix(self):
        return ""

    def full_name(self):
        return f"registry.terraform.io/hashicorp/{self.name}"

    def get_data_sources(self):
        return []

    def get_resources(self):
        return []

    def get_functions(self):
        return []


class StubServicer(ProviderServicer):
    def __init__(self, name, schema_path):
        super().__init__(_App(name))
        self.name = name
        self.schema_path = Path(schema_path)
        self._doc = None
        self.region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.default_tags = {}

    @property
    def doc(self):
        if self._doc is None:
            self._doc = json.loads(self.schema_path.read_text())
        return self._doc

    def values(self):
        return Values(self.name, self.region)

    def GetMetadata(self, request, context):
        return pb.GetMetadata.Response(server_capabilities=pb.ServerCapabilities(plan_destroy=True))

    def GetProviderSchema(self, request, context):
        # Building ~2000 schemas costs seconds; prepare.py stores the response once.
        cached = self.schema_path.with_suffix(".pb")
        if cached.exists():
            return pb.GetProviderSchema.Response.FromString(cached.read_bytes())
        return schema_response(self.doc)

    def ValidateProviderConfig(self, request, context):
        return pb.ValidateProviderConfig.Response()

    def ValidateResourceConfig(self, request, context):
        return pb.ValidateResourceConfig.Response()

    def ValidateDataResourceConfig(self, request, context):
        return pb.ValidateDataResourceConfig.Response()

    def ConfigureProvider(self, request, context):
        cfg = read_dynamic_value(request.config) or {}
        if self.name == "aws":
            if isinstance(cfg.get("region"), str):
                self.region = cfg["region"]
            for dt in cfg.get("default_tags") or []:
                if isinstance(dt.get("tags"), dict):
                    self.default_tags.update(dt["tags"])
        return pb.ConfigureProvider.Response()

    def _block(self, kind, type_name):
        return self.doc[kind][type_name]["block"]

    def UpgradeResourceState(self, request, context):
        # State written by this stub already has the current schema.
        state = json.loads(request.raw_state.json) if request.raw_state.json else None
        block = self._block("resource_schemas", request.type_name)
        return pb.UpgradeResourceState.Response(upgraded_state=to_dynamic_value(_wrap_dynamic_blocks(block, state)))

    def ReadResource(self, request, context):
        if request.type_name in moto_backed.RESOURCES:
            try:
                moto = self._moto()
                current = read_dynamic_value(request.current_state)
                # Gone from moto behind Terraform's back: dropped from state, as the real
                # provider does (a destroy then skips it, an apply creates it again).
                if moto and current is not None and not moto.exists(request.type_name, current):
                    return pb.ReadResource.Response(new_state=to_dynamic_value(None))
            except Exception as e:
                diags = Diagnostics().add_error(f"{request.type_name}: {e}")
                return pb.ReadResource.Response(new_state=request.current_state, diagnostics=diags.to_pb())
        return pb.ReadResource.Response(new_state=request.current_state, private=request.private)

    def _moto(self):
        """The moto client when moto-backing is on; raises MotoError when it is asked for
        without an emulator (each caller turns that into the operation's error)."""
        if not hasattr(self, "_moto_client"):
            self._moto_client = moto_backed.Moto(self.region) if self.name == "aws" and moto_backed.enabled() else None
        return self._moto_client

    def _tags_all(self, block, obj):
        if "tags_all" in block.get("attributes", {}) and obj.get("tags_all") in (None, Unknown):
            tags = obj.get("tags")
            if tags is Unknown or (isinstance(tags, dict) and any(v is Unknown for v in tags.values())):
                return obj
            obj = dict(obj, tags_all={**self.default_tags, **(tags or {})})
        return obj

    def PlanResourceChange(self, request, context):
        proposed = read_dynamic_value(request.proposed_new_state)
        prior = read_dynamic_value(request.prior_state)
        if proposed is None:
            return pb.PlanResourceChange.Response(planned_state=to_dynamic_value(None))
        block = self._block("resource_schemas", request.type_name)
        planned = _plan_unknowns(block, proposed, create=prior is None)
        planned = self._tags_all(block, planned)
        return pb.PlanResourceChange.Response(planned_state=to_dynamic_value(planned),
                                              planned_private=request.prior_private)

    def ApplyResourceChange(self, request, context):
        planned = read_dynamic_value(request.planned_state)
        if planned is None:
            if request.type_name in moto_backed.RESOURCES:
                try:
                    if self._moto():
                        self._moto().delete(request.type_name, read_dynamic_value(request.prior_state))
                except Exception as e:
                    diags = Diagnostics().add_error(f"{request.type_name}: {e}")
                    return pb.ApplyResourceChange.Response(new_state=request.prior_state, diagnostics=diags.to_pb())
            return pb.ApplyResourceChange.Response(new_state=to_dynamic_value(None))
        block = self._block("resource_schemas", request.type_name)
        # Tests of interrupting an apply need one that takes a while (seconds per resource).
        delay = float(os.environ.get("ENVCTL_STUB_APPLY_SECONDS") or 0)
        if delay:
            import time

            time.sleep(delay)
        planned = self._tags_all(block, planned)
        if request.type_name in moto_backed.RESOURCES:
            try:
                planned = self._apply_in_moto(request.type_name, read_dynamic_value(request.prior_state), planned)
            except Exception as e:  # the apply of this resource fails, as a provider error
                diags = Diagnostics().add_error(f"{request.type_name}: {e}")
                return pb.ApplyResourceChange.Response(new_state=request.prior_state, diagnostics=diags.to_pb())
        new = _fill(self.values(), request.type_name, block, planned)
        return pb.ApplyResourceChange.Response(new_state=to_dynamic_value(new), private=request.planned_private)

    def _apply_in_moto(self, type_name, prior, planned):
        """Creates or updates the object in moto; moto's answers fill what was unknown."""
        moto = self._moto()
        if moto is None:
            return planned
        known = _known(planned)  # what is still unknown is moto's to answer
        answered = moto.create(type_name, known) if prior is None else moto.update(type_name, prior, known)
        out = dict(planned)
        for k, v in answered.items():
            if out.get(k) is Unknown and v is not None:
                out[k] = v
        return out

    def ReadDataSource(self, request, context):
        cfg = read_dynamic_value(request.config)
        block = self._block("data_source_schemas", request.type_name)
        if request.type_name in moto_backed.DATA_SOURCES:
            try:
                moto = self._moto()
                answered = getattr(moto, "read_" + request.type_name)(cfg) if moto else {}
            except Exception as e:
                diags = Diagnostics().add_error(str(e))
                return pb.ReadDataSource.Response(diagnostics=diags.to_pb())
            cfg = {**cfg, **{k: v for k, v in answered.items() if k in block.get("attributes", {}) and v is not None}}
        state = read_data_source(self.values(), request.type_name, block, cfg)
        return pb.ReadDataSource.Response(state=to_dynamic_value(state))

    def ImportResourceState(self, request, context):
        diags = Diagnostics().add_error(f"{request.type_name}: import is not supported by the stub provider")
        return pb.ImportResourceState.Response(diagnostics=diags.to_pb())


def main(argv):
    if len(argv) < 3:
        sys.exit("usage: stub_provider.py NAME SCHEMA.json  (started by Terraform)")
    name, schema_path = argv[1], argv[2]
    servicer = StubServicer(name, schema_path)

    # tf's runner builds its own servicer from the app; hand it ours.
    import tf.provider
    import tf.runner

    tf.provider.ProviderServicer = lambda app: servicer

    # tf's runner ends the process on StopProvider, cutting off the operation in flight
    # ("Plugin did not respond" after Ctrl-C). In the protocol StopProvider asks in-flight
    # calls to wind down; the process ends when Terraform shuts the plugin down.
    class _Shutdown(tf.runner._ShutdownInterceptor):
        def intercept_service(self, continuation, details):
            result = continuation(details)
            if details.method == "/plugin.GRPCController/Shutdown":
                self.stopped = True
                if self.server:
                    self.server.stop(grace=1)
            return result

    tf.runner._ShutdownInterceptor = _Shutdown
    run_provider(servicer.app, argv[3:])


if __name__ == "__main__":
    main(sys.argv)
