#!/usr/bin/env bash
# One feature resolution across the workspace: every package that `cargo build -p rates`
# (what `envctl up local` runs), `cargo build -p envctl` and `cargo build --workspace`
# have in common must get the same features in each, or cargo compiles it (and all that
# depends on it) again. The workspace-hack crate (cargo-hakari, .config/hakari.toml) is
# what makes them agree; this fails when it is stale. Fix: cargo install cargo-hakari,
# then `cargo hakari generate && cargo hakari manage-deps`.
set -euo pipefail

tree() { cargo tree --locked -e normal,build -f '{p}|{f}' --prefix none "$@" 2>/dev/null | sort -u; }
work=$(mktemp -d /tmp/features-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
tree --workspace >"$work/workspace"
status=0
for package in rates envctl; do
  tree -p "$package" >"$work/$package"
  # A package line (name version|features) of this build that the workspace build does
  # not have: the same package with other features.
  differ=$(comm -23 "$work/$package" "$work/workspace" | cut -d'|' -f1 | sort -u)
  total=$(cut -d'|' -f1 "$work/$package" | sort -u | wc -l)
  if [ -n "$differ" ]; then
    echo "features.sh: cargo build -p $package resolves $(echo "$differ" | wc -l) of its $total packages with other features than the workspace build:" >&2
    echo "$differ" | head -20 | sed 's/^/  /' >&2
    status=1
  else
    echo "cargo build -p $package: all $total packages resolved as in the workspace build"
  fi
done
if [ $status -ne 0 ]; then
  echo "features.sh: regenerate the workspace-hack crate: cargo install cargo-hakari && cargo hakari generate && cargo hakari manage-deps" >&2
fi
exit $status
