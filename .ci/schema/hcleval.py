"""A partial evaluator for Terraform expressions, enough to rebuild IAM policy documents.

Values that only Terraform (or AWS) knows at plan or apply time are `Unknown`, carrying the
source text of the reference they came from (`aws_sqs_queue.this.arn`, `var.queue_arn`),
so a caller can substitute a plausible value of the right kind. Known: literals, templates,
lists, objects, `local.*` (evaluated on demand within the module), `var.*` with a literal
default, `path.module`, the account/partition/region data sources (fixed example values),
for-expressions, conditionals with a known condition, and the functions policies are
usually built with (concat, flatten, distinct, compact, merge, format, join, jsonencode,
jsondecode, toset, tolist, tomap, lookup, keys, values, sort, replace, lower, upper, file).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import hcl

ACCOUNT = "111122223333"
PARTITION = "aws"
REGION = "us-east-1"


class Unknown:
    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return f"Unknown({self.text})"


def is_known(v):
    if isinstance(v, Unknown):
        return False
    if isinstance(v, list):
        return all(is_known(x) for x in v)
    if isinstance(v, dict):
        return all(is_known(x) for x in v.values())
    return True


class Scope:
    """One module: its locals and variables, evaluated lazily."""

    def __init__(self, directory, bodies):
        self.dir = Path(directory)
        self.locals = {}
        self.vars = {}
        for body in bodies:
            for lb in body.blocks_of("locals"):
                for a in lb.body.attributes:
                    self.locals[a.name] = a.value
            for vb in body.blocks_of("variable"):
                if vb.labels:
                    d = vb.body.attr("default")
                    self.vars[vb.labels[0]] = d.value if d else None
        self._cache = {}
        self._busy = set()

    def local(self, name, text):
        if name in self._cache:
            return self._cache[name]
        if name not in self.locals or name in self._busy:
            return Unknown(text)
        self._busy.add(name)
        v = evaluate(self.locals[name], self, {})
        self._busy.discard(name)
        self._cache[name] = v
        return v

    def var(self, name, text):
        d = self.vars.get(name)
        if d is None:
            return Unknown(text)
        v = evaluate(d, self, {})
        # A default is one possible value; a literal default of [] or {} or null says nothing.
        if v in ([], {}, None, ""):
            return Unknown(text)
        return v


_TRAV = re.compile(r'\.([A-Za-z_][\w-]*)|\[\s*("(?:[^"\\]|\\.)*"|\d+|[^\]]+)\s*\]')


def _traversal(text):
    m = re.match(r"[A-Za-z_][\w-]*", text)
    root = m.group(0)
    steps = []
    for s in _TRAV.finditer(text, m.end()):
        if s.group(1):
            steps.append(s.group(1))
        else:
            k = s.group(2)
            steps.append(json.loads(k) if k.startswith('"') else (int(k) if k.isdigit() else None))
    return root, steps


def _walk(value, steps, text):
    for s in steps:
        if isinstance(value, Unknown):
            return Unknown(text)
        if isinstance(value, dict) and s in value:
            value = value[s]
        elif isinstance(value, list) and isinstance(s, int) and s < len(value):
            value = value[s]
        else:
            return Unknown(text)
    return value


def _ref(node, scope, env):
    text = node.text.strip()
    root, steps = _traversal(text)
    if root in env:
        return _walk(env[root], steps, text)
    if root == "local" and steps:
        return _walk(scope.local(steps[0], text), steps[1:], text)
    if root == "var" and steps:
        return _walk(scope.var(steps[0], text), steps[1:], text)
    if root == "path" and steps and steps[0] in ("module", "root"):
        return str(scope.dir)
    if root == "data" and len(steps) >= 3:
        dtype, attr = steps[0], steps[-1]
        if dtype == "aws_partition" and attr == "partition":
            return PARTITION
        if dtype == "aws_partition" and attr == "dns_suffix":
            return "amazonaws.com"
        if dtype == "aws_caller_identity" and attr == "account_id":
            return ACCOUNT
        if dtype == "aws_region" and attr in ("name", "region"):
            return REGION
    return Unknown(text)


def _tostr(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _call(node, scope, env):
    name = node.name
    args = [evaluate(a, scope, env) for a in node.args]
    expand = node.text.rstrip().rstrip(")").rstrip().endswith("...")
    if expand and args and isinstance(args[-1], list):
        args = args[:-1] + args[-1]
    if name == "file":
        if args and isinstance(args[0], str):
            p = Path(args[0])
            p = p if p.is_absolute() else scope.dir / p
            if p.is_file():
                return p.read_text()
        return Unknown(node.text)
    if name in ("jsonencode",) and args:
        return args[0] if not is_known(args[0]) else _JsonText(args[0])
    if name == "jsondecode" and args and isinstance(args[0], str):
        try:
            return json.loads(str(args[0]))
        except ValueError:
            return Unknown(node.text)
    if name == "format" and args and isinstance(args[0], (str, _Partial)):
        return _format(args[0], list(args[1:]), node.text)
    if any(isinstance(a, Unknown) for a in args):
        # Functions of lists keep the known elements where that is meaningful.
        if name not in ("concat", "flatten", "distinct", "compact", "toset", "tolist"):
            return Unknown(node.text)
    try:
        if name in ("concat",):
            out = []
            for a in args:
                out.extend(a if isinstance(a, list) else [a])
            return out
        if name == "flatten":
            out = []

            def fl(x):
                if isinstance(x, list):
                    for y in x:
                        fl(y)
                else:
                    out.append(x)

            fl(args[0])
            return out
        if name in ("distinct", "toset"):
            seen, out = [], []
            for x in args[0] if isinstance(args[0], list) else [args[0]]:
                k = json.dumps(x, default=str, sort_keys=True)
                if k not in seen:
                    seen.append(k)
                    out.append(x)
            return out
        if name == "compact":
            return [x for x in args[0] if x not in ("", None)]
        if name in ("tolist", "tomap", "tostring", "tonumber", "tobool", "sensitive", "nonsensitive"):
            return args[0]
        if name == "merge":
            out = {}
            for a in args:
                if not isinstance(a, dict):
                    return Unknown(node.text)
                out.update(a)
            return out
        if name == "format":
            fmt, rest = args[0], list(args[1:])
            return re.sub(r"%[sdv]", lambda m: _tostr(rest.pop(0)) if rest else m.group(0), fmt).replace("%%", "%")
        if name == "join":
            return args[0].join(_tostr(x) for x in args[1])
        if name == "lookup":
            return args[0].get(args[1], args[2] if len(args) > 2 else None)
        if name == "keys":
            return sorted(args[0])
        if name == "values":
            return [args[0][k] for k in sorted(args[0])]
        if name == "sort":
            return sorted(args[0])
        if name == "replace":
            return args[0].replace(args[1], args[2])
        if name == "lower":
            return args[0].lower()
        if name == "upper":
            return args[0].upper()
        if name == "length":
            return len(args[0])
        if name == "coalesce":
            return next((a for a in args if a not in (None, "")), None)
    except (TypeError, AttributeError, IndexError, KeyError):
        return Unknown(node.text)
    return Unknown(node.text)


def _format(fmt, rest, text):
    """format() over a format string that may itself be a partial template."""
    parts_in = fmt.parts if isinstance(fmt, _Partial) else [fmt]
    parts = []
    for p in parts_in:
        if not isinstance(p, str):
            parts.append(p)
            continue
        for i, piece in enumerate(re.split(r"%[sdv]", p)):
            if i > 0:
                parts.append(rest.pop(0) if rest else Unknown(text))
            parts.append(piece.replace("%%", "%"))
    if all(isinstance(x, (str, int, float, bool)) and not isinstance(x, Unknown) for x in parts):
        return "".join(_tostr(x) for x in parts)
    return _Partial(parts, text)


class _JsonText(str):
    """The result of jsonencode(): a JSON string that remembers the value it encodes."""

    def __new__(cls, value):
        s = super().__new__(cls, json.dumps(value, separators=(",", ":")))
        s.value = value
        return s


def evaluate(node, scope, env):
    if isinstance(node, hcl.Literal):
        return node.value
    if isinstance(node, hcl.Template):
        parts = [p if isinstance(p, str) else evaluate(p, scope, env) for p in node.parts]
        if all(not isinstance(p, Unknown) for p in parts) and all(isinstance(p, (str, int, float, bool)) for p in parts):
            return "".join(_tostr(p) for p in parts)
        return _Partial(parts, node.text)
    if isinstance(node, hcl.Tuple):
        return [evaluate(i, scope, env) for i in node.items]
    if isinstance(node, hcl.Object):
        out = {}
        for k, v in node.items:
            key = evaluate(k, scope, env)
            if isinstance(key, Ref_like) or not isinstance(key, str):
                key = k.text.strip().strip('"()')
            out[key] = evaluate(v, scope, env)
        return out
    if isinstance(node, hcl.Ref):
        return _ref(node, scope, env)
    if isinstance(node, hcl.Call):
        return _call(node, scope, env)
    if isinstance(node, hcl.Conditional):
        c = evaluate(node.cond, scope, env)
        if isinstance(c, bool):
            return evaluate(node.true if c else node.false, scope, env)
        return Unknown(node.text)
    if isinstance(node, hcl.For):
        coll = evaluate(node.collection, scope, env)
        if isinstance(coll, dict):
            pairs = list(coll.items())
        elif isinstance(coll, list):
            pairs = list(enumerate(coll))
        else:
            return Unknown(node.text)
        out_list, out_map = [], {}
        for k, v in pairs:
            inner = dict(env)
            if node.key_var:
                inner[node.key_var] = k
            inner[node.value_var] = v
            if node.cond is not None:
                c = evaluate(node.cond, scope, inner)
                if c is not True:
                    if c is False:
                        continue
                    return Unknown(node.text)
            val = evaluate(node.value, scope, inner)
            if node.key is None:
                out_list.append(val)
            else:
                key = evaluate(node.key, scope, inner)
                if not isinstance(key, str):
                    return Unknown(node.text)
                if node.grouping:
                    out_map.setdefault(key, []).append(val)
                else:
                    out_map[key] = val
        return out_list if node.key is None else out_map
    return Unknown(node.text)


Ref_like = Unknown


class _Partial(Unknown):
    """A template with unknown parts: the parts are kept so each can be substituted."""

    def __init__(self, parts, text):
        super().__init__(text)
        self.parts = parts
