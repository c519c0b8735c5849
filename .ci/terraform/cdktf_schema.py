"""Provider schemas from the cdktf prebuilt provider packages (PyPI `cdktf-cdktf-provider-*`).

The real providers cannot be downloaded here, but each cdktf package was generated from
its provider's own schema (`terraform providers schema -json`) and keeps it in its jsii
bundle (`_jsii/provider-NAME@VERSION.jsii.tgz`, the JavaScript under `package/lib/`):

- a resource, data source or provider class names its Terraform type
  (`terraformResourceType: 'aws_eks_cluster'`);
- `synthesizeHclAttributes()` (and `xxxToHclTerraform(struct)` for a nested block) lists
  every configurable name with `isBlock`, its collection `type` and `storageClassType`;
- a configurable name is optional when the class has `resetName()`, required otherwise;
- getters name every attribute, computed ones included
  (`getStringAttribute('arn')`, `new EksClusterIdentityList(this, "identity", false)`);
  generated comments mark computed-only nested ones (`// identity - computed: true, ...`).

What the packages do not carry, and how this module decides it:

- whether an optional top-level attribute is also computed: it is treated as optional and
  computed (the provider may plan it unknown and choose a value), which is what the real
  AWS provider does for most of them (`tags_all`, `region`, `arn`-like names, ...). Inside
  nested blocks optional attributes stay plain optional (null unless configured).
- whether a framework provider's nested name is a block or a nested attribute: cdktf marks
  both `isBlock: true`. NESTED_ATTRIBUTES below lists the nested attributes of the
  framework providers the roots use, from those providers' documentation.

Output: one JSON document per provider in the shape of `terraform providers schema -json`
(`provider`, `resource_schemas`, `data_source_schemas`, each `{"block": {...}}`).
"""

import io
import json
import re
import sys
import tarfile
import zipfile
from pathlib import Path

# Framework-provider names written as attributes (`set = [{...}]`), not blocks.
# hashicorp/helm 3.x: https://registry.terraform.io/providers/hashicorp/helm/latest/docs
NESTED_ATTRIBUTES = {
    "helm": {
        "provider": {"kubernetes", "registries", "experiments", "kubernetes.exec"},
        "helm_release": {"set", "set_list", "set_sensitive", "set_wo", "postrender"},
        "helm_template": {"set", "set_list", "set_sensitive", "set_wo", "postrender"},
    },
}

# What the packages do not carry either: which attributes are sensitive. Terraform refuses
# a root output of a sensitive value not marked `sensitive = true`, so the attributes of
# the types the roots use that the providers mark sensitive are listed here (from the
# providers' documentation); a nested name is `block.attribute`.
SENSITIVE = {
    "random": {"random_password": {"result", "bcrypt_hash"}},
    "aws": {
        "aws_db_instance": {"password", "password_wo"},
        "aws_rds_cluster": {"master_password", "master_password_wo"},
        "aws_secretsmanager_secret_version": {"secret_string", "secret_binary", "secret_string_wo"},
        "aws_eks_cluster_auth": {"token"},
        "aws_ecr_authorization_token": {"authorization_token", "password"},
        "aws_iam_access_key": {"secret", "ses_smtp_password_v4", "encrypted_secret"},
        "aws_secretsmanager_random_password": {"random_password"},
        "provider": {"access_key", "secret_key", "token"},
    },
    "tls": {"tls_private_key": {"private_key_pem", "private_key_openssh", "private_key_pem_pkcs8"}},
    "helm": {"provider": {"kubernetes.password", "kubernetes.token", "kubernetes.client_key"},
             "helm_release": {"set_sensitive.value", "repository_password"}},
    "kubernetes": {"provider": {"password", "token", "client_key"}},
}


def _mark_sensitive(block, names):
    for name in names:
        path = name.split(".")
        b = block
        for step in path[:-1]:
            if step in b.get("block_types", {}):
                b = b["block_types"][step]["block"]
            elif step in b["attributes"] and "nested_type" in b["attributes"][step]:
                b = b["attributes"][step]["nested_type"]
            else:
                b = None
                break
        if b is not None and path[-1] in b["attributes"]:
            b["attributes"][path[-1]]["sensitive"] = True


_CLASS_RE = re.compile(r"^class (\w+) extends ([\w.]+) \{\n(.*?)^\}\n", re.M | re.S)
_FUNC_RE = re.compile(r"^function (\w+)ToHclTerraform\(struct\) \{\n(.*?)^\}\n", re.M | re.S)
_ATTR_RE = re.compile(
    r"^\s+(\w+): \{\n\s+value: ([^\n]*),\n\s+isBlock: (true|false),\n\s+type: \"(\w+)\",\n"
    r"\s+storageClassType: \"(\w+)\",\n\s+\},?\n",
    re.M,
)
_GETTER_RE = re.compile(r"^    get (\w+)\(\) \{\n\s+return ([^\n]*);\n\s+\}", re.M)
_NEW_RE = re.compile(r"this\._(\w+) = new (\w+)\(this, \"(\w+)\"(?:, (true|false))?\)")
_COMMENT_RE = re.compile(r"// (\w+) - computed: (true|false), optional: (true|false), required: (true|false)")
_TYPE_RE = re.compile(r"terraformResourceType: '([\w-]+)'")
_RESET_RE = re.compile(r"^    reset(\w+)\(\) \{", re.M)

_SCALARS = {"string": "string", "number": "number", "boolean": "bool", "any": "dynamic"}
_GETTER_TYPES = {
    "getStringAttribute": "string",
    "getNumberAttribute": "number",
    "getBooleanAttribute": "bool",
    "getListAttribute": ["list", "string"],
    "getNumberListAttribute": ["list", "number"],
    "getStringMapAttribute": ["map", "string"],
    "getNumberMapAttribute": ["map", "number"],
    "getBooleanMapAttribute": ["map", "bool"],
    "getAnyMapAttribute": ["map", "dynamic"],
    "interpolationForAttribute": "dynamic",
}


def _lower_first(s):
    return s[:1].lower() + s[1:]


def _upper_first(s):
    return s[:1].upper() + s[1:]


class _Module:
    """One generated file: its classes and struct converters."""

    def __init__(self, text):
        self.classes = {m.group(1): (m.group(2), m.group(3)) for m in _CLASS_RE.finditer(text)}
        self.structs = {m.group(1): m.group(2) for m in _FUNC_RE.finditer(text)}


def _collection_type(kind, storage):
    """The cty type of a non-block attribute from cdktf's `type` and `storageClassType`."""
    if kind == "simple":
        return _SCALARS[storage]
    # stringList, numberList, booleanList, stringMap, anyMap, stringListList, stringMapMap...
    m = re.fullmatch(r"(string|number|boolean|any)((?:List|Map)+)", storage)
    if not m:
        raise ValueError(f"unknown storage class {storage}")
    ty = _SCALARS[m.group(1)]
    wrappers = re.findall(r"List|Map", m.group(2))
    # The innermost wrapper comes first in the name (stringListList = list(list(string))).
    for i, w in enumerate(wrappers):
        outer = i == len(wrappers) - 1
        if w == "Map":
            ty = ["map", ty]
        elif outer and kind == "set":
            ty = ["set", ty]
        else:
            ty = ["list", ty]
    return ty


class _Extractor:
    def __init__(self, provider, module):
        self.provider = provider
        self.mod = module

    def _getters(self, body):
        """{tf_name: (kind, detail)} for every attribute getter of a class body."""
        news = {m.group(1): (m.group(2), m.group(3), m.group(4)) for m in _NEW_RE.finditer(body)}
        out = {}
        for m in _GETTER_RE.finditer(body):
            js_name, expr = m.group(1), m.group(2)
            if js_name.endswith("Input") or js_name in ("internalValue", "fqn"):
                continue
            call = re.search(r"this\.(\w+)\('(\w+)'\)", expr)
            if call and call.group(1) in _GETTER_TYPES:
                ty = _GETTER_TYPES[call.group(1)]
                if "Fn.tolist" in expr and isinstance(ty, list):
                    ty = ["set", ty[1]]
                out[call.group(2)] = ("attr", ty)
                continue
            own = re.fullmatch(r"this\._(\w+)", expr)
            if own and own.group(1) in news:
                cls, tf_name, wraps_set = news[own.group(1)]
                out[tf_name] = ("nested", (cls, wraps_set == "true"))
        return out

    def _comments(self, body):
        return {m.group(1): m.group(2) == "true" and m.group(3) == "false" and m.group(4) == "false"
                for m in _COMMENT_RE.finditer(body)}

    def _element_class(self, cls):
        for suffix in ("List", "Map"):
            if cls.endswith(suffix) and cls[: -len(suffix)] + "OutputReference" in self.mod.classes:
                return cls[: -len(suffix)] + "OutputReference", suffix.lower()
        return cls, "single"

    def block(self, body, config_src, nested_attrs=frozenset(), top=False, path=""):
        """A schema block from a class body (getters) and its config converter source."""
        attrs, blocks = {}, {}
        config = {m.group(1): m for m in _ATTR_RE.finditer(config_src or "")}
        resets = {_lower_first(r) for r in _RESET_RE.findall(body)}
        getters = self._getters(body)
        computed_only = self._comments(body)
        for name, m in config.items():
            value, is_block, kind, storage = m.group(2), m.group(3) == "true", m.group(4), m.group(5)
            if top and name in ("alias",) and self.provider_block:
                continue
            js = re.search(r"(?:this\._|struct\.)(\w+)", value)
            # Optional names have resetX() on their class (the resource's, or the block's
            # OutputReference); required ones do not.
            optional = js is not None and js.group(1) in resets
            if not body and not top:
                # Provider-configuration structs have no OutputReference class to tell;
                # their fields are optional in the providers the roots use.
                optional = True
            if storage[0].isupper():
                struct = storage[: -4] if storage.endswith("List") and kind in ("list", "set") else storage
                struct = struct[:-3] if kind == "map" and struct.endswith("Map") else struct
                inner_body = self.mod.classes.get(struct + "OutputReference", ("", ""))[1]
                inner_cfg = self.mod.structs.get(_lower_first(struct))
                full = f"{path}{name}"
                single_getter = getters.get(name, ("", ("", False)))[1][0].endswith("OutputReference")
                inner = self.block(inner_body, inner_cfg, nested_attrs, path=full + ".")
                if full in nested_attrs:
                    mode = {"list": "list", "set": "set", "map": "map", "struct": "single"}[kind]
                    if single_getter and kind == "list":
                        mode = "single"
                    attrs[name] = {"nested_type": {"attributes": inner["attributes"], "nesting_mode": mode},
                                   "optional": True} if optional else \
                                  {"nested_type": {"attributes": inner["attributes"], "nesting_mode": mode},
                                   "required": True}
                    continue
                mode = {"list": "list", "set": "set", "map": "map", "struct": "single"}[kind]
                bt = {"nesting_mode": mode, "block": inner}
                if mode in ("list", "set"):
                    if single_getter:
                        bt["max_items"] = 1
                    if not optional:
                        bt["min_items"] = 1
                blocks[name] = bt
                continue
            a = {"type": _collection_type(kind, storage)}
            if not optional:
                a["required"] = True
            else:
                a["optional"] = True
                if top or name == "id":
                    a["computed"] = True
            attrs[name] = a
        for name, (what, detail) in getters.items():
            if name in config or name in attrs or name in blocks:
                continue
            if what == "attr":
                attrs[name] = {"type": detail, "computed": True}
                continue
            cls, wraps_set = detail
            elem, coll = self._element_class(cls)
            ebody = self.mod.classes.get(elem, ("", ""))[1]
            inner = self.block(ebody, None, nested_attrs, path=f"{path}{name}.")
            obj = ["object", {k: v["type"] for k, v in inner["attributes"].items() if "type" in v}]
            if coll == "list":
                ty = ["set" if wraps_set else "list", obj]
            elif coll == "map":
                ty = ["map", obj]
            else:
                ty = obj
            attrs[name] = {"type": ty, "computed": True}
        if top and "id" not in attrs and "id" in getters:
            attrs["id"] = {"type": "string", "computed": True}
        return {"attributes": attrs, "block_types": blocks}

    provider_block = False


def _no_dynamic_in_sets(block, in_set=False):
    """cdktf stops generating classes at a fixed depth and types what lies deeper as `any`
    (aws_wafv2_*'s `rule.statement`). Terraform refuses dynamic types inside set blocks, so
    such a set block is served as a list block: only those two resource types differ."""
    has = any("dynamic" in json.dumps(a.get("type")) for a in block["attributes"].values())
    for bt in block["block_types"].values():
        inner = _no_dynamic_in_sets(bt["block"], in_set or bt["nesting_mode"] == "set")
        if inner and bt["nesting_mode"] == "set":
            bt["nesting_mode"] = "list"
        has = has or inner
    return has


def _find_tgz(wheel_or_dir, provider):
    p = Path(wheel_or_dir)
    if p.is_dir():
        hits = sorted(p.rglob(f"provider-{provider}@*.jsii.tgz"))
        if not hits:
            raise FileNotFoundError(f"no provider-{provider}@*.jsii.tgz under {p}")
        return hits[-1].read_bytes(), hits[-1].name
    with zipfile.ZipFile(p) as z:
        for n in z.namelist():
            if re.search(rf"/_jsii/provider-{provider}@[^/]*\.jsii\.tgz$", n):
                return z.read(n), n.rsplit("/", 1)[-1]
    raise FileNotFoundError(f"no provider-{provider} jsii bundle in {p}")


def extract(provider, tgz_bytes):
    """The schema document of one provider from its jsii bundle."""
    nested = NESTED_ATTRIBUTES.get(provider, {})
    doc = {"provider": None, "resource_schemas": {}, "data_source_schemas": {}}
    with tarfile.open(fileobj=io.BytesIO(tgz_bytes), mode="r:gz") as tar:
        for member in tar:
            if not (member.isfile() and member.name.endswith("/index.js") and "/lib/" in member.name):
                continue
            text = tar.extractfile(member).read().decode()
            if "terraformResourceType: '" not in text:
                continue
            mod = _Module(text)
            for cls, (base, body) in mod.classes.items():
                if base not in ("cdktf.TerraformResource", "cdktf.TerraformDataSource", "cdktf.TerraformProvider"):
                    continue
                tm = _TYPE_RE.search(body)
                if not tm:
                    continue
                type_name = tm.group(1)
                synth = re.search(r"synthesizeHclAttributes\(\) \{\n(.*?)\n    \}\n", body, re.S)
                ex = _Extractor(provider, mod)
                ex.provider_block = base == "cdktf.TerraformProvider"
                key = "provider" if ex.provider_block else type_name
                block = ex.block(body, synth.group(1) if synth else "", nested.get(key, set()), top=True)
                _no_dynamic_in_sets(block)
                _mark_sensitive(block, SENSITIVE.get(provider, {}).get(key, ()))
                if ex.provider_block:
                    # The provider release the package was generated from.
                    v = re.search(r"providerVersion: '([0-9.]+)'", body)
                    doc["version"] = v.group(1) if v else None
                    block["attributes"].pop("alias", None)
                    block["attributes"].pop("id", None)
                    for a in block["attributes"].values():
                        a.pop("computed", None)
                    doc["provider"] = {"block": block}
                elif base == "cdktf.TerraformDataSource":
                    doc["data_source_schemas"][type_name] = {"block": block}
                else:
                    doc["resource_schemas"][type_name] = {"block": block}
    if doc["provider"] is None:
        raise ValueError(f"no provider class found for {provider}")
    return doc


def main(argv):
    if len(argv) != 4:
        sys.exit("usage: cdktf_schema.py PROVIDER WHEEL_OR_DIR OUT.json")
    provider, src, out = argv[1:]
    data, name = _find_tgz(src, provider)
    doc = extract(provider, data)
    doc["source"] = name
    Path(out).write_text(json.dumps(doc, sort_keys=True))
    print(f"{name}: {len(doc['resource_schemas'])} resources, {len(doc['data_source_schemas'])} data sources")


if __name__ == "__main__":
    main(sys.argv)
