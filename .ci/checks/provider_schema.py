#!/usr/bin/env python3
"""Check Terraform configuration against the providers' own schemas, offline.

    provider_schema.py DIR...

Every directory under each DIR that holds .tf files is a Terraform module. For each one,
every `resource`, `data` and `provider` block (and `data` blocks inside `check` blocks) is
checked against the schema of the provider it belongs to, read from that provider's cdktf
package (see .ci/schema/providers.py):

- unknown resource or data source type;
- unknown argument or nested block (with the closest known name as a hint);
- a missing required argument or nested block;
- a block written as an argument (`x = {...}` where x is a block) and an argument written
  as a block (`x {...}` where x is an argument);
- more than one block of a type the provider allows once;
- unknown keys or missing required keys in a literal object given to a nested attribute;
- `dynamic` blocks (checked as the block they generate), meta-arguments (`count`,
  `for_each`, `provider`, `depends_on`, `lifecycle` with its `ignore_changes` names,
  `provisioner`, `connection`);
- `required_providers` version constraints that do not admit the schema's provider
  version (for hashicorp/aws, also constraints that admit a newer minor version than the
  one checked against, so what Terraform downloads is what was checked);
- `module` blocks with a local source: unknown arguments and missing required variables.

Findings are printed as `file:line: message`; the exit status is 1 when there is any.
python-hcl2 parses every file too, and a file it reads differently from this check's parser
is a finding (see .ci/schema/hcl.py).
"""

from __future__ import annotations

import difflib
import hashlib
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "schema"))

import hcl  # noqa: E402
import providers  # noqa: E402

# Providers whose constraint must not admit a newer minor release than the schema's: the
# AWS provider adds and changes arguments every minor release.
PIN_MINOR = {"hashicorp/aws"}

RESOURCE_META_ATTRS = {"count", "for_each", "provider", "depends_on"}
RESOURCE_META_BLOCKS = {"lifecycle", "provisioner", "connection"}
DATA_META_BLOCKS = {"lifecycle"}
PROVIDER_META_ATTRS = {"alias", "version"}
LIFECYCLE_ATTRS = {"create_before_destroy", "prevent_destroy", "ignore_changes", "replace_triggered_by"}
CONDITION_BLOCK = {"attrs": {"condition": True, "error_message": True}}
PROVISIONERS = {
    # Terraform core's provisioners and their arguments (terraform/internal/builtin/provisioners).
    "local-exec": {"command": True, "working_dir": False, "interpreter": False, "environment": False, "quiet": False},
    "remote-exec": {"inline": False, "script": False, "scripts": False},
    "file": {"source": False, "content": False, "destination": True},
}
PROVISIONER_META = {"when", "on_failure"}
MODULE_META = {"source", "version", "providers", "count", "for_each", "depends_on"}


class Findings:
    def __init__(self):
        self.items = []

    def add(self, path, line, msg):
        self.items.append((str(path), line, msg))


def suggest(name, candidates):
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    return f' (did you mean "{close[0]}"?)' if close else ""


# ----------------------------------------------------------------------------- versions


def _parse_version(v):
    parts = [int(x) for x in re.findall(r"\d+", v)[:3]]
    return tuple(parts + [0] * (3 - len(parts)))


def constraint_admits(constraint, version):
    """Terraform version-constraint semantics (=, !=, >, >=, <, <=, ~>) for release versions."""
    v = _parse_version(version)
    for term in constraint.split(","):
        term = term.strip()
        if not term:
            continue
        m = re.match(r"^(=|!=|>=|<=|>|<|~>)?\s*v?(\d+(?:\.\d+){0,2})", term)
        if not m:
            raise ValueError(f"cannot read version constraint {term!r}")
        op, ref_text = m.group(1) or "=", m.group(2)
        ref = _parse_version(ref_text)
        if op == "=" and v != ref:
            return False
        if op == "!=" and v == ref:
            return False
        if op == ">" and not v > ref:
            return False
        if op == ">=" and not v >= ref:
            return False
        if op == "<" and not v < ref:
            return False
        if op == "<=" and not v <= ref:
            return False
        if op == "~>":
            n = ref_text.count(".") + 1
            if v < ref:
                return False
            if n == 1:
                pass  # "~> 6" is ">= 6"
            elif n == 2 and v[0] != ref[0]:
                return False
            elif n == 3 and v[:2] != ref[:2]:
                return False
    return True


# ----------------------------------------------------------------------------- module model


class Module:
    def __init__(self, directory, files):
        self.dir = directory
        self.files = files  # [(path, Body)]
        self.required = {}  # local name -> (source, constraint, path, line)
        for path, body in files:
            for tb in body.blocks_of("terraform"):
                for rp in tb.body.blocks_of("required_providers"):
                    for a in rp.body.attributes:
                        src, ver, line = f"hashicorp/{a.name}", None, a.line
                        if isinstance(a.value, hcl.Object):
                            for k, v in a.value.items:
                                key = getattr(k, "value", None)
                                if key == "source" and isinstance(v, hcl.Literal):
                                    src = v.value
                                if key == "version" and isinstance(v, hcl.Literal):
                                    ver, line = v.value, v.line
                        elif isinstance(a.value, hcl.Literal):  # legacy `aws = "~> 6.0"`
                            ver = a.value.value
                        src = src.lower()
                        if src.count("/") == 2:  # registry.terraform.io/hashicorp/aws
                            src = src.split("/", 1)[1]
                        self.required[a.name] = (src, ver, path, line)

    def source_of(self, local_name):
        if local_name in self.required:
            return self.required[local_name][0]
        return f"hashicorp/{local_name}"


# ----------------------------------------------------------------------------- checking


class Checker:
    def __init__(self):
        self.f = Findings()
        self.counts = {"resource": 0, "data": 0, "provider": 0, "module": 0}
        self.versions_seen = {}

    def schema_for(self, module, local_name, path, line, what):
        source = module.source_of(local_name)
        try:
            return providers.load(source)
        except providers.SchemaError as e:
            self.f.add(path, line, f"{what}: {e}")
            return None

    # -- top level
    def check_module(self, module):
        for local, (src, ver, path, line) in sorted(module.required.items()):
            if ver is None:
                self.f.add(path, line, f'required_providers "{local}" has no version constraint')
                continue
            schema = self.schema_for(module, local, path, line, f'required_providers "{local}"')
            if schema is None:
                continue
            self.versions_seen[src] = schema["version"]
            try:
                ok = constraint_admits(ver, schema["version"])
            except ValueError as e:
                self.f.add(path, line, str(e))
                continue
            if not ok:
                self.f.add(path, line, f'{src} constraint "{ver}" does not admit {schema["version"]}, the version this check has the schema of ({schema["package"]}); pin a constraint that includes it')
            elif src in PIN_MINOR:
                major, minor, _ = _parse_version(schema["version"])
                if constraint_admits(ver, f"{major}.{minor + 1}.0"):
                    self.f.add(path, line, f'{src} constraint "{ver}" admits {major}.{minor + 1}.x and later, newer than the schema checked here ({schema["version"]}); use "< {major}.{minor + 1}"')

        for path, body in module.files:
            for b in body.blocks:
                if b.type in ("resource", "data"):
                    self.check_resource(module, path, b)
                elif b.type == "check":
                    for inner in b.body.blocks_of("data"):
                        self.check_resource(module, path, inner)
                elif b.type == "provider" and len(b.labels) == 1:
                    self.check_provider(module, path, b)
                elif b.type == "module" and len(b.labels) == 1:
                    self.check_module_call(module, path, b)

    def check_provider(self, module, path, b):
        self.counts["provider"] += 1
        schema = self.schema_for(module, b.labels[0], path, b.line, f'provider "{b.labels[0]}"')
        if schema is None or schema["provider_config"] is None:
            return
        struct = schema["structs"][schema["provider_config"]]
        # cdktf adds `alias` to every provider config struct; Terraform treats it as meta.
        self.check_body(schema, path, b.body, struct, f'provider "{b.labels[0]}"', meta_attrs=PROVIDER_META_ATTRS, header_line=b.line)

    def check_resource(self, module, path, b):
        kind = b.type
        if len(b.labels) != 2:
            self.f.add(path, b.line, f"{kind} block needs a type and a name label")
            return
        rtype, name = b.labels
        self.counts[kind] += 1
        where = f'{kind} "{rtype}" "{name}"'
        prov = b.body.attr("provider")
        local = rtype.split("_", 1)[0]
        if prov is not None:
            local = prov.value.text.split(".", 1)[0]
        schema = self.schema_for(module, local, path, b.line, where)
        if schema is None:
            return
        table = schema["resources"] if kind == "resource" else schema["data_sources"]
        if rtype not in table:
            other = schema["data_sources"] if kind == "resource" else schema["resources"]
            hint = suggest(rtype, table)
            if not hint and rtype in other:
                hint = f" (it is a {'data source' if kind == 'resource' else 'resource'} type)"
            self.f.add(path, b.line, f'{where}: {schema["provider"]} {schema["version"]} has no {"resource" if kind == "resource" else "data source"} type "{rtype}"{hint}')
            return
        struct = schema["structs"][table[rtype]]
        meta_blocks = RESOURCE_META_BLOCKS if kind == "resource" else DATA_META_BLOCKS
        self.check_body(schema, path, b.body, struct, where, meta_attrs=RESOURCE_META_ATTRS, meta_blocks=meta_blocks, header_line=b.line)
        for lc in b.body.blocks_of("lifecycle"):
            self.check_lifecycle(path, lc, struct, where, kind)
        for pv in b.body.blocks_of("provisioner"):
            self.check_provisioner(path, pv, where)

    def check_lifecycle(self, path, lc, struct, where, kind):
        allowed = LIFECYCLE_ATTRS if kind == "resource" else set()
        for a in lc.body.attributes:
            if a.name not in allowed:
                self.f.add(path, a.line, f"{where}: lifecycle has no argument \"{a.name}\"{suggest(a.name, allowed)}")
        for blk in lc.body.blocks:
            if blk.type not in ("precondition", "postcondition"):
                self.f.add(path, blk.line, f'{where}: lifecycle has no block "{blk.type}"')
                continue
            self.check_plain(path, blk, CONDITION_BLOCK["attrs"], f"{where}: lifecycle.{blk.type}")
        ic = lc.body.attr("ignore_changes")
        if ic is not None and isinstance(ic.value, hcl.Tuple):
            names = set(struct["attrs"]) | set(struct["blocks"])
            for item in ic.value.items:
                root = re.split(r"[.\[]", item.text.strip().strip('"'), maxsplit=1)[0]
                if root not in names:
                    self.f.add(path, item.line, f'{where}: lifecycle.ignore_changes names "{root}", which is not an argument or block of this type{suggest(root, names)}')

    def check_provisioner(self, path, pv, where):
        if len(pv.labels) != 1 or pv.labels[0] not in PROVISIONERS:
            self.f.add(path, pv.line, f"{where}: unknown provisioner {pv.labels}")
            return
        spec = PROVISIONERS[pv.labels[0]]
        for a in pv.body.attributes:
            if a.name not in spec and a.name not in PROVISIONER_META:
                self.f.add(path, a.line, f'{where}: provisioner "{pv.labels[0]}" has no argument "{a.name}"{suggest(a.name, spec)}')
        for name, req in spec.items():
            if req and pv.body.attr(name) is None:
                self.f.add(path, pv.line, f'{where}: provisioner "{pv.labels[0]}" is missing the required argument "{name}"')

    def check_plain(self, path, blk, attrs, where):
        for a in blk.body.attributes:
            if a.name not in attrs:
                self.f.add(path, a.line, f'{where}: unknown argument "{a.name}"{suggest(a.name, attrs)}')
        for name, req in attrs.items():
            if req and blk.body.attr(name) is None:
                self.f.add(path, blk.line, f'{where}: missing required argument "{name}"')
        for inner in blk.body.blocks:
            self.f.add(path, inner.line, f'{where}: unexpected block "{inner.type}"')

    # -- bodies against a struct
    def check_body(self, schema, path, body, struct, where, meta_attrs=(), meta_blocks=(), header_line=0):
        attrs, blocks = struct["attrs"], struct["blocks"]
        known = set(attrs) | set(blocks)
        for a in body.attributes:
            if a.name in attrs:
                spec = attrs[a.name]
                if spec["nested"]:
                    self.check_nested_value(schema, path, a.value, spec, f"{where}: {a.name}")
                continue
            if a.name in meta_attrs:
                continue
            if a.name in blocks:
                self.f.add(path, a.line, f'{where}: "{a.name}" is a block, not an argument: write `{a.name} {{ ... }}` (or a dynamic "{a.name}" block), not `{a.name} = ...`')
                continue
            self.f.add(path, a.line, f'{where}: unknown argument "{a.name}"{suggest(a.name, known)}')

        present = {}
        for blk in body.blocks:
            if blk.type == "dynamic":
                if len(blk.labels) != 1:
                    self.f.add(path, blk.line, f"{where}: a dynamic block needs exactly one label, the block type it generates")
                    continue
                target = blk.labels[0]
                if target not in blocks:
                    if target in attrs:
                        self.f.add(path, blk.line, f'{where}: dynamic "{target}": "{target}" is an argument, and dynamic only generates blocks')
                    else:
                        self.f.add(path, blk.line, f'{where}: dynamic "{target}": unknown block type{suggest(target, blocks)}')
                    continue
                present[target] = present.get(target, 0) + 2  # any number: never "too many"
                self.check_dynamic(schema, path, blk, blocks[target], f"{where}: {target}")
                continue
            if blk.type in meta_blocks:
                continue
            if blk.type in blocks:
                if blk.labels:
                    self.f.add(path, blk.line, f'{where}: block "{blk.type}" takes no labels')
                present[blk.type] = present.get(blk.type, 0) + 1
                spec = blocks[blk.type]
                if spec["max1"] and present[blk.type] == 2 and not any(b.type == "dynamic" for b in body.blocks):
                    self.f.add(path, blk.line, f'{where}: at most one "{blk.type}" block is allowed')
                if spec["struct"]:
                    self.check_body(schema, path, blk.body, schema["structs"][spec["struct"]], f"{where}: {blk.type}", header_line=blk.line)
                continue
            if blk.type in attrs:
                self.f.add(path, blk.line, f'{where}: "{blk.type}" is an argument, not a block: write `{blk.type} = ...`')
                continue
            self.f.add(path, blk.line, f'{where}: unknown block type "{blk.type}"{suggest(blk.type, known)}')

        # A required name written in the wrong form is reported once, above.
        for name, spec in attrs.items():
            if spec["required"] and body.attr(name) is None and not body.blocks_of(name):
                self.f.add(path, header_line, f'{where}: missing required argument "{name}"')
        for name, spec in blocks.items():
            if spec["required"] and name not in present and body.attr(name) is None:
                self.f.add(path, header_line, f'{where}: missing required block "{name}"')

    def check_dynamic(self, schema, path, blk, spec, where):
        for a in blk.body.attributes:
            if a.name not in ("for_each", "iterator", "labels"):
                self.f.add(path, a.line, f'{where}: dynamic block has no argument "{a.name}" (arguments go inside content {{ }})')
        if blk.body.attr("for_each") is None:
            self.f.add(path, blk.line, f"{where}: dynamic block is missing for_each")
        contents = blk.body.blocks_of("content")
        for other in blk.body.blocks:
            if other.type != "content":
                self.f.add(path, other.line, f'{where}: dynamic block has no block "{other.type}" (blocks go inside content {{ }})')
        if len(contents) != 1:
            self.f.add(path, blk.line, f"{where}: dynamic block needs exactly one content block")
            return
        if spec["struct"]:
            self.check_body(schema, path, contents[0].body, schema["structs"][spec["struct"]], where, header_line=contents[0].line)

    def check_nested_value(self, schema, path, value, spec, where):
        """Keys of literal objects given to a nested attribute (other expressions are not known here)."""
        struct = schema["structs"].get(spec["nested"])
        if struct is None:
            return
        objects = []
        if spec["collection"] == "single" and isinstance(value, hcl.Object):
            objects = [value]
        elif spec["collection"] == "list" and isinstance(value, hcl.Tuple):
            objects = [v for v in value.items if isinstance(v, hcl.Object)]
        elif spec["collection"] == "map" and isinstance(value, hcl.Object):
            objects = [v for _, v in value.items if isinstance(v, hcl.Object)]
        for obj in objects:
            keys = {}
            for k, v in obj.items:
                if isinstance(k, hcl.Literal) and isinstance(k.value, str):
                    keys[k.value] = (k, v)
                else:
                    keys = None  # computed keys: nothing to say
                    break
            if keys is None:
                continue
            fields = set(struct["attrs"]) | set(struct["blocks"])
            for k, (knode, v) in keys.items():
                if k not in fields:
                    self.f.add(path, knode.line, f'{where}: unknown attribute "{k}" in this object{suggest(k, fields)}')
                elif k in struct["attrs"] and struct["attrs"][k]["nested"]:
                    self.check_nested_value(schema, path, v, struct["attrs"][k], f"{where}.{k}")
            for name, s in struct["attrs"].items():
                if s["required"] and name not in keys:
                    self.f.add(path, obj.line, f'{where}: this object is missing the required attribute "{name}"')

    # -- module calls
    def check_module_call(self, module, path, b):
        self.counts["module"] += 1
        src = b.body.attr("source")
        if src is None or not isinstance(src.value, hcl.Literal):
            self.f.add(path, b.line, f'module "{b.labels[0]}": missing a literal source')
            return
        if not str(src.value.value).startswith(("./", "../")):
            return  # registry or remote modules are not available offline
        target = (Path(module.dir) / src.value.value).resolve()
        tf = sorted(target.glob("*.tf"))
        if not tf:
            self.f.add(path, src.line, f'module "{b.labels[0]}": source {src.value.value} has no .tf files')
            return
        variables = {}
        for f in tf:
            for v in hcl.parse_file(f).blocks_of("variable"):
                if v.labels:
                    # No default: required ("No value for required variable").
                    variables[v.labels[0]] = v.body.attr("default") is None
        for a in b.body.attributes:
            if a.name not in variables and a.name not in MODULE_META:
                self.f.add(path, a.line, f'module "{b.labels[0]}": {src.value.value} has no variable "{a.name}"{suggest(a.name, variables)}')
        for name, required in sorted(variables.items()):
            if required and b.body.attr(name) is None:
                self.f.add(path, b.line, f'module "{b.labels[0]}": missing the required variable "{name}" of {src.value.value}')


# ----------------------------------------------------------------------------- main


def collect_modules(roots, skip_copies_of):
    """Directories with .tf files under each root; rendered copies of files identical to a
    file under `skip_copies_of` are left out (the original is checked once)."""
    originals = set()
    if skip_copies_of:
        for f in Path(skip_copies_of).rglob("*.tf"):
            originals.add(hashlib.sha256(f.read_bytes()).hexdigest())
    modules = []
    parse_errors = []
    for root in roots:
        root = Path(root)
        dirs = sorted({p.parent for p in root.rglob("*.tf")} | ({root} if list(root.glob("*.tf")) else set()))
        for d in dirs:
            files = []
            copy_only = True
            parsed = []
            for f in sorted(d.glob("*.tf")):
                try:
                    body = hcl.parse_file(f)
                except hcl.HclError as e:
                    parse_errors.append((str(f), e.line, f"cannot parse: {e.msg}"))
                    continue
                for msg in hcl.cross_check(f, body):
                    parse_errors.append((str(f), 1, msg.split(": ", 2)[-1]))
                parsed.append((f, body))
                if hashlib.sha256(f.read_bytes()).hexdigest() not in originals or Path(skip_copies_of or "/nonexistent") in f.parents:
                    copy_only = False
            files = parsed
            if files and not copy_only:
                modules.append(Module(d, files))
    return modules, parse_errors


def main(argv):
    args = list(argv)
    originals = None
    if args[:1] == ["--modules"]:
        originals = args[1]
        args = [originals] + args[2:]
    if not args:
        print(__doc__)
        return 2
    modules, parse_errors = collect_modules(args, originals)
    checker = Checker()
    for path, line, msg in parse_errors:
        checker.f.add(path, line, msg)
    for m in modules:
        checker.check_module(m)
    for path, line, msg in sorted(set(checker.f.items), key=lambda t: (t[0], t[1], t[2])):
        print(f"{path}:{line}: {msg}")
    c = checker.counts
    versions = ", ".join(f"{k} {v}" for k, v in sorted(checker.versions_seen.items()))
    print(f"provider_schema: {len(modules)} modules, {c['resource']} resources, {c['data']} data sources, "
          f"{c['provider']} provider blocks, {c['module']} module calls checked against {versions or 'no provider'}: "
          f"{len(set(checker.f.items))} findings", file=sys.stderr)
    if not modules or (c["resource"] + c["data"]) == 0:
        print("provider_schema: nothing was checked", file=sys.stderr)
        return 1
    return 1 if checker.f.items else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
