"""Terraform provider schemas, read offline from the cdktf prebuilt provider packages.

Each PyPI package `cdktf-cdktf-provider-NAME` was generated from its provider's own schema
(`terraform providers schema -json` of one provider release) and ships it inside its jsii
bundle, `_jsii/provider-NAME@VERSION.jsii.tgz`:

- `package/.jsii` (the assembly) has, for every resource, data source and the provider
  itself, a class whose initializer takes a config struct. Every struct property carries
  the Terraform name in its docs link (`.../docs/resources/eks_cluster#role_arn`), whether
  it is optional (`"optional": true`; a block is required when its `min_items` >= 1), and
  its type: a nested struct for nested blocks and nested attributes, a bare struct (no
  collection) for a block with `max_items = 1`.
- `package/lib/*/index.js` (and `index-structs/*.js` for large resources) has the Terraform type of each class
  (`EksCluster.tfResourceType = "aws_eks_cluster"`) and, for every configurable name,
  `isBlock`. cdktf sets `isBlock: true` for framework nested attributes too (hashicorp/helm
  3.x `set = [{...}]`, `kubernetes = {...}`), so a name is a block only when `isBlock` is
  true AND the generator described it as a block: the generator writes the description
  "`NAME` block" for every block type and nothing else (terraform-cdk,
  packages/@cdktf/provider-generator/lib/get/generator/resource-parser.ts,
  `attributeForBlockType`), while a nested attribute keeps the provider's description.

The extracted schema is cached as JSON next to the venv (keyed by the package version), so
only the first run after a package upgrade pays for reading the 130 MB AWS assembly.

Schema JSON shape (compact, not Terraform's):
  {"provider": "hashicorp/aws", "version": "6.25.0", "package": "...==21.22.1",
   "provider_config": "<struct>", "resources": {type: "<struct>"}, "data_sources": {...},
   "structs": {"<struct>": {"attrs": {name: {"required": bool, "nested": "<struct>"|null,
                                            "collection": "single|list|map"}},
                           "blocks": {name: {"required": bool, "max1": bool,
                                             "struct": "<struct>"|null}}}}}
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import sys
import tarfile
from pathlib import Path

# Terraform provider source -> the PyPI package generated from it.
PACKAGES = {
    "hashicorp/aws": "cdktf-cdktf-provider-aws",
    "hashicorp/helm": "cdktf-cdktf-provider-helm",
    "hashicorp/kubernetes": "cdktf-cdktf-provider-kubernetes",
    "hashicorp/tls": "cdktf-cdktf-provider-tls",
    "hashicorp/random": "cdktf-cdktf-provider-random",
    "hashicorp/time": "cdktf-cdktf-provider-time",
    "hashicorp/null": "cdktf-cdktf-provider-null",
    "hashicorp/http": "cdktf-cdktf-provider-http",
    "hashicorp/local": "cdktf-cdktf-provider-local",
    "hashicorp/external": "cdktf-cdktf-provider-external",
    "hashicorp/archive": "cdktf-cdktf-provider-archive",
    "hashicorp/cloudinit": "cdktf-cdktf-provider-cloudinit",
}

_ANCHOR = re.compile(r"registry\.terraform\.io/providers/([\w-]+/[\w-]+)/([0-9][\w.-]*)/docs[^#\s}]*#(\w+) ")
_CLASS_DOC = re.compile(r"registry\.terraform\.io/providers/([\w-]+/[\w-]+)/([0-9][\w.-]*)/docs")
_TFTYPE = re.compile(r'^(\w+)\.tfResourceType = "([\w-]+)";', re.M)
_CLASS = re.compile(r"^class (\w+) extends cdktf\.\w+ \{\n(.*?)^\}\n", re.M | re.S)
_FUNC = re.compile(r"^function (\w+)ToHclTerraform\(struct\) \{\n(.*?)^\}\n", re.M | re.S)
_ATTR = re.compile(r'^\s+(\w+): \{\n\s+value: [^\n]*,\n\s+isBlock: (true|false),', re.M)
_BASES = {
    "cdktf.TerraformResource": "resources",
    "cdktf.TerraformDataSource": "data_sources",
    "cdktf.TerraformProvider": "provider",
}


class SchemaError(Exception):
    pass


def _lower_first(s):
    return s[:1].lower() + s[1:]


def _struct_ref(typ, types):
    """(nested struct fqn or None, collection kind) of a jsii type reference."""
    if "fqn" in typ:
        fqn = typ["fqn"]
        if not fqn.startswith("cdktf.") and types.get(fqn, {}).get("datatype"):
            return fqn, "single"
        return None, "single"
    if "collection" in typ:
        inner, _ = _struct_ref(typ["collection"]["elementtype"], types)
        return inner, "map" if typ["collection"]["kind"] == "map" else "list"
    if "union" in typ:
        found = (None, "single")
        for t in typ["union"]["types"]:
            ref = _struct_ref(t, types)
            if ref[0]:
                return ref
            if "collection" in t:
                found = ref
        return found
    return None, "single"


def _docs_text(docs):
    # The link is in `summary` or `remarks`; a description containing `@word` makes jsii
    # split the rest of the text into `custom` tags, link included.
    parts = [docs.get("summary") or "", docs.get("remarks") or ""]
    parts += [str(v) for v in (docs.get("custom") or {}).values()]
    return " ".join(parts) + " "


def extract(tgz_path, package_label):
    """Read one cdktf package's jsii bundle into the compact schema."""
    assembly = None
    js = {}
    with tarfile.open(tgz_path, "r:gz") as tar:
        for member in tar:
            if member.name == "package/.jsii":
                assembly = json.load(tar.extractfile(member))
            elif member.name.startswith("package/lib/") and member.name.endswith(".js"):
                # index.js, and index-structs/structsN.js where a resource's structs are split.
                js[member.name] = tar.extractfile(member).read().decode()
    if assembly is None:
        raise SchemaError(f"{tgz_path}: no package/.jsii in the bundle")
    types = assembly["types"]

    # From the JavaScript: class -> Terraform type, (function or class, tf name) -> isBlock.
    tf_type = {}
    is_block = {}
    for text in js.values():
        for cls, tftype in _TFTYPE.findall(text):
            tf_type[cls] = tftype
        for m in _FUNC.finditer(text):
            for name, blk in _ATTR.findall(m.group(2)):
                is_block[(m.group(1), name)] = blk == "true"
        for m in _CLASS.finditer(text):
            body = m.group(2)
            k = body.find("synthesizeHclAttributes()")
            if k >= 0:
                for name, blk in _ATTR.findall(body[k:]):
                    is_block[(m.group(1), name)] = blk == "true"

    source = version = None
    out = {"resources": {}, "data_sources": {}, "provider_config": None, "structs": {}}
    owner_of_config = {}  # config struct fqn -> class name (whose synthesizeHclAttributes it feeds)
    for fqn, t in types.items():
        kind = _BASES.get(t.get("base"))
        if t.get("kind") != "class" or kind is None:
            continue
        params = (t.get("initializer") or {}).get("parameters") or []
        cfg = next((p["type"].get("fqn") for p in params if p["name"] == "config"), None)
        m = _CLASS_DOC.search(_docs_text(t.get("docs", {})))
        if m:
            source, version = m.group(1), m.group(2)
        if cfg is None:
            continue
        owner_of_config[cfg] = t["name"]
        if kind == "provider":
            out["provider_config"] = cfg
        else:
            name = tf_type.get(t["name"])
            if name is None:
                raise SchemaError(f"{package_label}: no tfResourceType for class {t['name']}")
            out[kind][name] = cfg

    mismatches = []
    for fqn, t in types.items():
        if not t.get("datatype") or t.get("kind") != "interface":
            continue
        if fqn.startswith("cdktf."):
            continue
        owner = owner_of_config.get(fqn) or _lower_first(t["name"])
        attrs, blocks = {}, {}
        for p in t.get("properties", []):
            docs = p.get("docs", {})
            m = _ANCHOR.search(_docs_text(docs))
            if not m:
                raise SchemaError(f"{package_label}: {fqn}.{p['name']} has no Terraform docs anchor")
            source, version, name = m.group(1), m.group(2), m.group(3)
            nested, coll = _struct_ref(p["type"], types)
            required = not p.get("optional", False)
            described_as_block = (docs.get("summary") or "").startswith(f"{name} block")
            js_block = is_block.get((owner, name))
            if js_block is None:
                mismatches.append(f"{fqn}.{name}: not in the JavaScript")
                js_block = described_as_block
            if js_block and described_as_block:
                blocks[name] = {"required": required, "max1": coll == "single", "struct": nested}
            else:
                if described_as_block and not js_block:
                    mismatches.append(f"{fqn}.{name}: described as a block, isBlock false")
                attrs[name] = {"required": required, "nested": nested, "collection": coll}
        out["structs"][fqn] = {"attrs": attrs, "blocks": blocks}
    if len(mismatches) > 20:
        raise SchemaError(f"{package_label}: jsii and JavaScript disagree on {len(mismatches)} names, e.g. {mismatches[:5]}")
    if not out["resources"] and not out["data_sources"]:
        raise SchemaError(f"{package_label}: no resources or data sources found")
    out["provider"] = source
    out["version"] = version
    out["package"] = package_label
    return out


def _cache_dir():
    for d in (Path(sys.prefix) / "provider-schema-cache", Path(os.environ.get("TMPDIR", "/tmp")) / "provider-schema-cache"):
        try:
            d.mkdir(parents=True, exist_ok=True)
            if os.access(d, os.W_OK):
                return d
        except OSError:
            continue
    raise SchemaError("no writable directory for the schema cache")


def bundle_path(package):
    """The jsii bundle inside an installed package, found without importing it (importing
    a jsii package starts a Node.js runtime)."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return None, None
    for f in dist.files or []:
        if f.name.endswith(".jsii.tgz") and "_jsii" in str(f):
            return Path(dist.locate_file(f)), dist.version
    raise SchemaError(f"{package} {dist.version} has no _jsii/*.jsii.tgz")


_loaded = {}


def load(source):
    """The schema of a provider source (`hashicorp/aws`), or raise SchemaError saying what to install."""
    source = source.lower()
    if source in _loaded:
        return _loaded[source]
    package = PACKAGES.get(source)
    if package is None:
        raise SchemaError(f"no cdktf schema package is known for provider {source}; add it to PACKAGES in .ci/schema/providers.py and to .ci/requirements.txt")
    tgz, pkg_version = bundle_path(package)
    if tgz is None:
        raise SchemaError(f"provider {source} is used but {package} is not installed; add it to .ci/requirements.txt")
    cache = _cache_dir() / f"{package}-{pkg_version}.json"
    schema = None
    if cache.exists():
        try:
            schema = json.loads(cache.read_text())
        except ValueError:
            schema = None
    if schema is None:
        schema = extract(tgz, f"{package}=={pkg_version}")
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps(schema, separators=(",", ":")))
        tmp.replace(cache)
    if schema["provider"].lower() != source:
        raise SchemaError(f"{package} describes {schema['provider']}, expected {source}")
    _loaded[source] = schema
    return schema


if __name__ == "__main__":
    # `python providers.py hashicorp/aws ...`: extract (or read from the cache) and summarise.
    for src in sys.argv[1:] or list(PACKAGES)[:5]:
        s = load(src)
        print(f"{src} {s['version']} ({s['package']}): {len(s['resources'])} resources, "
              f"{len(s['data_sources'])} data sources, {len(s['structs'])} structs")
