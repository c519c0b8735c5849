#!/usr/bin/env bash
# The runtime's modules depend one way (ARCHITECTURE.md): no cycle between modules.
#
# cargo-modules (rust-analyzer's view of the crate) lists every item and each "uses" edge
# between items. Its own `--acyclic` flag also counts a type and its methods as a cycle,
# so the edges are lifted here to the modules that hold their items, and the module graph
# is sorted topologically (Python's graphlib); a cycle is reported with its modules.
# Edges between a module and its own descendants are kept: a child using its parent is a
# cycle like any other, since the parent declares (and so depends on) the child.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=0.27.0   # the last release for rustc 1.95 (0.28 needs 1.98)

if ! cargo modules --version 2>/dev/null | grep -q "$VERSION"; then
  echo "module_cycles.sh: installing cargo-modules $VERSION"
  CARGO_INCREMENTAL=0 cargo install --locked --quiet cargo-modules --version "$VERSION"
fi

check() {
  local package=$1 dot
  dot=$(mktemp /tmp/module-graph.XXXXXX)
  cargo modules dependencies --lib -p "$package" --no-externs --no-sysroot >"$dot"
  python3 - "$package" "$dot" <<'PY'
import graphlib, re, sys
package, path = sys.argv[1], sys.argv[2]
node = re.compile(r'^\s*"([^"]+)" \[label="[^|"]*?(mod|crate)\|')
edge = re.compile(r'^\s*"([^"]+)" -> "([^"]+)" \[label="uses"')
modules, uses = set(), []
for line in open(path):
    if m := node.match(line):
        modules.add(m.group(1))
    elif m := edge.match(line):
        uses.append((m.group(1), m.group(2)))
if len(modules) < 5 or not uses:
    sys.exit(f"module_cycles.sh: cargo-modules gave no usable graph for {package} ({len(modules)} modules, {len(uses)} edges)")
def module_of(item):
    while item not in modules:
        if "::" not in item:
            return None
        item = item.rsplit("::", 1)[0]
    return item
graph = {m: set() for m in modules}
for a, b in uses:
    ma, mb = module_of(a), module_of(b)
    if ma and mb and ma != mb:
        graph[ma].add(mb)
try:
    order = list(graphlib.TopologicalSorter(graph).static_order())
except graphlib.CycleError as e:
    # graphlib lists each node before the one that depends on it: reversed, each
    # module is followed by one it uses.
    cycle = list(reversed(e.args[1]))
    print(f"module_cycles.sh: {package}: modules depend on each other in a cycle:", file=sys.stderr)
    print("  " + " -> ".join(cycle), file=sys.stderr)
    for a, b in zip(cycle, cycle[1:]):
        why = [f"{x} uses {y}" for x, y in uses if module_of(x) == a and module_of(y) == b][:3]
        print(f"  {a} -> {b}: " + "; ".join(why), file=sys.stderr)
    sys.exit(1)
edges = sum(len(v) for v in graph.values())
print(f"{package}: {len(modules)} modules, {edges} module dependencies, no cycle")
PY
  rm -f "$dot"
}

check rates
check rates-contract
