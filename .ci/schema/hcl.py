"""A small HCL (Terraform native syntax) parser that keeps line numbers.

The schema and IAM checks need what python-hcl2's dictionaries lose: whether a name was
written as an argument (`x = {...}`) or as a block (`x {...}`), the line of every block
header and argument, and the expressions as a tree (references, templates, calls) so a
policy document can be rebuilt with placeholder values. The checks still parse every file
with python-hcl2 as well (`cross_check`), so a file this parser reads differently from the
reference parser fails loudly instead of being checked wrongly.

Grammar followed: https://github.com/hashicorp/hcl/blob/main/hclsyntax/spec.md
(bodies, blocks, one-line blocks, attributes, templates with `${}`/`%{}`, heredocs,
for-expressions, splats, conditionals and operators). Expressions this module does not need
to understand (operators, conditionals, for-expressions, `%{}` directives) are kept as
`Opaque` nodes with their source text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class HclError(Exception):
    def __init__(self, path, line, msg):
        super().__init__(f"{path}:{line}: {msg}")
        self.path, self.line, self.msg = path, line, msg


# ----------------------------------------------------------------------------- nodes


@dataclass
class Expr:
    line: int
    text: str  # the source text of the whole expression


@dataclass
class Literal(Expr):
    value: object  # str, int/float, bool or None


@dataclass
class Template(Expr):
    parts: list  # str or Expr (an interpolation)


@dataclass
class Tuple(Expr):
    items: list


@dataclass
class Object(Expr):
    items: list  # (key: Expr, value: Expr)


@dataclass
class Ref(Expr):
    """A traversal: `var.x`, `aws_iam_role.this[0].arn`, `each.value.name`."""


@dataclass
class Call(Expr):
    name: str
    args: list


@dataclass
class For(Expr):
    """`[for k, v in coll : value if cond]` or `{for k, v in coll : key => value... if cond}`."""
    key_var: object  # str or None
    value_var: str
    collection: Expr
    key: object  # Expr for object results, None for tuples
    value: Expr
    cond: object  # Expr or None
    grouping: bool


@dataclass
class Conditional(Expr):
    cond: Expr
    true: Expr
    false: Expr


@dataclass
class Opaque(Expr):
    """Operators, conditionals, for-expressions, splats: kept as text only."""


@dataclass
class Attribute:
    name: str
    value: Expr
    line: int


@dataclass
class Block:
    type: str
    labels: list
    body: "Body"
    line: int
    end_line: int = 0


@dataclass
class Body:
    attributes: list = field(default_factory=list)
    blocks: list = field(default_factory=list)

    def attr(self, name):
        for a in self.attributes:
            if a.name == name:
                return a
        return None

    def blocks_of(self, type_):
        return [b for b in self.blocks if b.type == type_]


# ----------------------------------------------------------------------------- parser

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_BINOPS = ("==", "!=", "<=", ">=", "&&", "||", "<", ">", "+", "-", "*", "/", "%")


class _Parser:
    def __init__(self, text, path, line0=1):
        self.s = text
        self.i = 0
        self.path = path
        self.line0 = line0
        # Newlines end an expression at body/object level but not inside (), [] or ${}.
        self.nl_stack = [True]

    # -- positions
    def line(self, i=None):
        return self.line0 + self.s.count("\n", 0, self.i if i is None else i)

    def err(self, msg, i=None):
        raise HclError(self.path, self.line(i), msg)

    def peek(self, n=1):
        return self.s[self.i : self.i + n]

    def at_end(self):
        return self.i >= len(self.s)

    # -- whitespace and comments
    def skip(self, newlines=None):
        if newlines is None:
            newlines = not self.nl_stack[-1]
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c in " \t\r":
                self.i += 1
            elif c == "\n":
                if not newlines:
                    return
                self.i += 1
            elif c == "#" or s.startswith("//", self.i):
                j = s.find("\n", self.i)
                self.i = len(s) if j < 0 else j
            elif s.startswith("/*", self.i):
                j = s.find("*/", self.i + 2)
                if j < 0:
                    self.err("unterminated /* comment")
                self.i = j + 2
            else:
                return

    def expect(self, tok):
        self.skip()
        if not self.s.startswith(tok, self.i):
            self.err(f"expected {tok!r}, found {self.s[self.i:self.i + 20]!r}")
        self.i += len(tok)

    def ident(self):
        m = _IDENT.match(self.s, self.i)
        if not m:
            return None
        self.i = m.end()
        return m.group(0)

    # -- bodies
    def body(self, closing):
        body = Body()
        while True:
            self.skip(newlines=True)
            if self.at_end():
                if closing:
                    self.err(f"missing {closing!r}")
                return body
            if closing and self.peek() == closing:
                return body
            start = self.i
            name = self.ident()
            if name is None:
                self.err(f"expected an argument or block name, found {self.s[self.i:self.i + 20]!r}")
            line = self.line(start)
            self.skip(newlines=False)
            if self.peek() == "=" and self.peek(2) != "==":
                self.i += 1
                self.nl_stack.append(True)
                value = self.expr()
                self.nl_stack.pop()
                body.attributes.append(Attribute(name, value, line))
                self.end_of_item(closing)
                continue
            labels = []
            while True:
                self.skip(newlines=False)
                c = self.peek()
                if c == '"':
                    t = self.template_string()
                    if not isinstance(t, Literal):
                        self.err("a block label cannot contain interpolation")
                    labels.append(t.value)
                elif c == "{":
                    break
                else:
                    lab = self.ident()
                    if lab is None:
                        self.err(f"expected a block label or '{{' after {name!r}")
                    labels.append(lab)
            self.i += 1
            self.nl_stack.append(True)
            inner = self.body("}")
            self.nl_stack.pop()
            end_line = self.line()
            self.i += 1
            body.blocks.append(Block(name, labels, inner, line, end_line))
            self.end_of_item(closing)

    def end_of_item(self, closing):
        self.skip(newlines=False)
        if self.at_end() or self.peek() == "\n" or (closing and self.peek() == closing):
            return
        self.err(f"expected a newline after the argument or block, found {self.s[self.i:self.i + 20]!r}")

    # -- expressions
    def expr(self):
        start = self.i
        self.skip()
        first = self.binary()
        self.skip()
        if self.peek() == "?":
            self.i += 1
            t = self.expr()
            self.expect(":")
            f = self.expr()
            node = self.opaque(start)
            return Conditional(node.line, node.text, first, t, f)
        return first

    def opaque(self, start):
        text = self.s[start : self.i].strip()
        return Opaque(self.line(start + len(self.s[start:self.i]) - len(self.s[start:self.i].lstrip())), text)

    def binary(self):
        start = self.i
        left = self.unary()
        combined = False
        while True:
            self.skip()
            op = next((o for o in _BINOPS if self.s.startswith(o, self.i)), None)
            # `=>` (for-expression), `...` and `*]`/`/*` are not binary operators here.
            if op is None or self.s.startswith("=>", self.i) or self.s.startswith("//", self.i) or self.s.startswith("/*", self.i):
                break
            self.i += len(op)
            self.unary()
            combined = True
        return self.opaque(start) if combined else left

    def unary(self):
        self.skip()
        start = self.i
        if self.peek() in ("-", "!"):
            self.i += 1
            self.unary()
            return self.opaque(start)
        return self.postfix(self.primary(), start)

    def postfix(self, node, start_i):
        is_ref = isinstance(node, Ref)
        changed = False
        while True:
            # Traversals may not continue across a newline at body level.
            save = self.i
            self.skip()
            c = self.peek()
            if c == "." and self.peek(3) != "...":
                self.i += 1
                if self.peek() == "*":
                    self.i += 1
                    is_ref = False
                elif self.ident() is None:
                    m = re.compile(r"[0-9]+").match(self.s, self.i)
                    if not m:
                        self.err("expected an attribute name after '.'")
                    self.i = m.end()
                changed = True
            elif c == "[":
                self.i += 1
                self.nl_stack.append(False)
                self.skip()
                if self.peek() == "*":
                    self.i += 1
                    is_ref = False
                else:
                    self.expr()
                self.expect("]")
                self.nl_stack.pop()
                changed = True
            else:
                self.i = save
                break
        if not changed:
            return node
        text = self.s[start_i : self.i]
        line = self.line(start_i)
        return Ref(line, text) if is_ref else Opaque(line, text)

    def primary(self):
        self.skip()
        start = self.i
        line = self.line()
        c = self.peek()
        if c == '"':
            return self.template_string()
        if self.s.startswith("<<", self.i):
            return self.heredoc()
        if c == "(":
            self.i += 1
            self.nl_stack.append(False)
            inner = self.expr()
            self.expect(")")
            self.nl_stack.pop()
            return inner if isinstance(inner, (Literal, Template)) else Opaque(line, self.s[start : self.i])
        if c == "[":
            return self.tuple_or_for(start, line)
        if c == "{":
            return self.object_or_for(start, line)
        m = _NUMBER.match(self.s, self.i)
        if m:
            self.i = m.end()
            v = float(m.group(0)) if (m.group(1) or m.group(2)) else int(m.group(0))
            return Literal(line, m.group(0), v)
        name = self.ident()
        if name is None:
            self.err(f"expected an expression, found {self.s[self.i:self.i + 20]!r}")
        if name in ("true", "false", "null"):
            return Literal(line, name, {"true": True, "false": False, "null": None}[name])
        save = self.i
        self.skip(newlines=False)
        if self.peek() == "(" or self.s.startswith("::", self.i):
            while self.s.startswith("::", self.i):  # provider::aws::arn_parse(...)
                self.i += 2
                self.ident()
            self.expect("(")
            self.nl_stack.append(False)
            args = []
            while True:
                self.skip()
                if self.peek() == ")":
                    break
                args.append(self.expr())
                self.skip()
                if self.s.startswith("...", self.i):
                    self.i += 3
                    self.skip()
                if self.peek() == ",":
                    self.i += 1
                    continue
                if self.peek() != ")":
                    self.err("expected ',' or ')' in function call")
            self.i += 1
            self.nl_stack.pop()
            return Call(line, self.s[start : self.i], name, args)
        self.i = save
        return Ref(line, name)

    def tuple_or_for(self, start, line):
        self.i += 1
        self.nl_stack.append(False)
        self.skip()
        if re.match(r"for\s", self.s[self.i : self.i + 4]):
            node = self.for_expr("]", start, line)
            self.nl_stack.pop()
            return node
        items = []
        while True:
            self.skip()
            if self.peek() == "]":
                break
            items.append(self.expr())
            self.skip()
            if self.peek() == ",":
                self.i += 1
                continue
            if self.peek() != "]":
                self.err("expected ',' or ']' in list")
        self.i += 1
        self.nl_stack.pop()
        return Tuple(line, self.s[start : self.i], items)

    def object_or_for(self, start, line):
        self.i += 1
        self.skip(newlines=True)
        if re.match(r"for\s", self.s[self.i : self.i + 4]):
            self.nl_stack.append(False)
            node = self.for_expr("}", start, line)
            self.nl_stack.pop()
            return node
        self.nl_stack.append(True)
        items = []
        while True:
            self.skip(newlines=True)
            if self.peek() == "}":
                break
            kstart = self.i
            self.nl_stack.append(False)
            key = self.expr()
            self.nl_stack.pop()
            if isinstance(key, Ref) and "." not in key.text and "[" not in key.text:
                key = Literal(key.line, key.text, key.text)  # a bare name is a literal key
            self.skip(newlines=False)
            if self.peek() in ("=", ":") and self.peek(2) != "==":
                self.i += 1
            else:
                self.err("expected '=' or ':' after an object key", kstart)
            value = self.expr()
            items.append((key, value))
            self.skip(newlines=False)
            if self.peek() == ",":
                self.i += 1
        self.i += 1
        self.nl_stack.pop()
        return Object(line, self.s[start : self.i], items)

    def for_expr(self, closing, start, line):
        self.i += 3
        self.skip()
        first = self.ident()
        self.skip()
        second = None
        if self.peek() == ",":
            self.i += 1
            self.skip()
            second = self.ident()
        self.skip()
        if not self.s.startswith("in", self.i):
            self.err("expected 'in' in a for expression")
        self.i += 2
        coll = self.expr()
        self.expect(":")
        key = None
        if closing == "}":
            key = self.expr()
            self.expect("=>")
        value = self.expr()
        self.skip()
        grouping = False
        if self.s.startswith("...", self.i):
            self.i += 3
            grouping = True
            self.skip()
        cond = None
        if re.match(r"if\b", self.s[self.i : self.i + 3]):
            self.i += 2
            cond = self.expr()
        self.expect(closing)
        key_var, value_var = (first, second) if second else (None, first)
        return For(line, self.s[start : self.i], key_var, value_var, coll, key, value, cond, grouping)

    def skip_for(self, closing):
        """Skip a for-expression's text up to its closing bracket (kept as Opaque)."""
        depth = 0
        while not self.at_end():
            self.skip()
            c = self.peek()
            if c == '"':
                self.template_string()
                continue
            if self.s.startswith("<<", self.i):
                self.heredoc()
                continue
            if c in "([{":
                depth += 1
            elif c in ")]}":
                if depth == 0:
                    if c != closing:
                        self.err(f"unbalanced {c!r} in a for expression")
                    self.i += 1
                    return
                depth -= 1
            self.i += 1
        self.err("unterminated for expression")

    # -- templates
    def template_string(self):
        start = self.i
        line = self.line()
        self.i += 1
        parts = self.template_parts('"')
        self.i += 1  # closing quote
        return self._template_node(line, self.s[start : self.i], parts)

    def _template_node(self, line, text, parts):
        if all(isinstance(p, str) for p in parts):
            return Literal(line, text, "".join(parts))
        return Template(line, text, parts)

    def template_parts(self, terminator):
        parts, buf = [], []
        s = self.s
        while True:
            if self.i >= len(s):
                if terminator is None:
                    break
                self.err("unterminated string")
            c = s[self.i]
            if terminator and c == terminator:
                break
            if terminator and c == "\n":
                self.err("a quoted string cannot span lines (use a heredoc)")
            if terminator and c == "\\":
                n = s[self.i + 1 : self.i + 2]
                esc = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
                if n in esc:
                    buf.append(esc[n])
                    self.i += 2
                elif n == "u":
                    buf.append(chr(int(s[self.i + 2 : self.i + 6], 16)))
                    self.i += 6
                elif n == "U":
                    buf.append(chr(int(s[self.i + 2 : self.i + 10], 16)))
                    self.i += 10
                else:
                    self.err(f"invalid escape \\{n}")
                continue
            if s.startswith("$${", self.i) or s.startswith("%%{", self.i):
                buf.append(s[self.i + 1 : self.i + 3])
                self.i += 3
                continue
            if s.startswith("${", self.i):
                if buf:
                    parts.append("".join(buf))
                    buf = []
                self.i += 2
                if self.peek() == "~":
                    self.i += 1
                self.nl_stack.append(False)
                parts.append(self.expr())
                self.skip()
                if self.peek() == "~":
                    self.i += 1
                self.expect("}")
                self.nl_stack.pop()
                continue
            if s.startswith("%{", self.i):
                # A directive (%{ if }, %{ for }): its text only.
                dstart = self.i
                self.i += 2
                self.nl_stack.append(False)
                self.skip_for("}")
                self.nl_stack.pop()
                if buf:
                    parts.append("".join(buf))
                    buf = []
                parts.append(Opaque(self.line(dstart), s[dstart : self.i]))
                continue
            buf.append(c)
            self.i += 1
        if buf:
            parts.append("".join(buf))
        return parts

    def heredoc(self):
        start = self.i
        line = self.line()
        m = re.compile(r"<<(-?)([A-Za-z_][A-Za-z0-9_]*)[ \t]*\r?\n").match(self.s, self.i)
        if not m:
            self.err("malformed heredoc header")
        strip, marker = m.group(1) == "-", m.group(2)
        content_start = m.end()
        end = re.compile(r"^[ \t]*" + re.escape(marker) + r"[ \t]*$", re.M).search(self.s, content_start)
        if not end:
            self.err(f"heredoc {marker} is not closed")
        content = self.s[content_start : end.start()]
        if strip:
            lines = content.split("\n")
            indents = [len(l) - len(l.lstrip(" \t")) for l in lines if l.strip()]
            cut = min(indents) if indents else 0
            content = "\n".join(l[cut:] for l in lines)
        sub = _Parser(content, self.path, self.line(content_start))
        parts = sub.template_parts(None)
        self.i = end.end()
        return self._template_node(line, self.s[start : self.i], parts)


def parse(text, path="<string>"):
    """Parse a whole .tf file into a Body."""
    p = _Parser(text, path)
    return p.body(None)


def parse_file(path):
    with open(path, encoding="utf-8") as fh:
        return parse(fh.read(), str(path))


def cross_check(path, body):
    """Compare the top-level blocks with what python-hcl2 reads from the same file.

    Returns a list of messages (empty when both parsers agree). python-hcl2's package may be
    the upstream one or checkov's fork (both install the `hcl2` module); only the block types
    and labels are compared, which both report the same way.
    """
    try:
        import hcl2  # noqa: PLC0415
    except ImportError:
        return []
    with open(path, encoding="utf-8") as fh:
        try:
            ref = hcl2.load(fh)
        except Exception as e:  # noqa: BLE001 - any parse failure is the finding
            return [f"{path}:1: python-hcl2 cannot parse this file: {e}"]
    theirs = []
    for btype, entries in ref.items():
        if btype in ("resource", "data"):
            for entry in entries:
                for rtype, named in entry.items():
                    for name in named:
                        theirs.append((btype, rtype.strip('"'), name.strip('"')))
        elif btype in ("module", "variable", "output", "provider"):
            for entry in entries:
                for name in entry:
                    theirs.append((btype, name.strip('"')))
    ours = []
    for b in body.blocks:
        if b.type in ("resource", "data") and len(b.labels) == 2:
            ours.append((b.type, b.labels[0], b.labels[1]))
        elif b.type in ("module", "variable", "output", "provider") and b.labels:
            ours.append((b.type, b.labels[0]))
    if sorted(ours) != sorted(theirs):
        only_ours = sorted(set(ours) - set(theirs))
        only_theirs = sorted(set(theirs) - set(ours))
        return [f"{path}:1: the block parser and python-hcl2 disagree: only here {only_ours}, only in python-hcl2 {only_theirs}"]
    return []
