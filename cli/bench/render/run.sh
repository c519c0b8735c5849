#!/usr/bin/env bash
# Benchmark: `envctl render ENV` for every environment, with hyperfine. Target: < 100 ms
# each. The baseline measured in the same run is `envctl --version` (process start only),
# so the printed ratio is what rendering costs on top of starting the binary.
#
#   bash cli/bench/render/run.sh            # builds the release binary first
#   ENVCTL=target/debug/envctl bash cli/bench/render/run.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."

command -v hyperfine >/dev/null || {
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq hyperfine
}
if [ -z "${ENVCTL:-}" ]; then
  cargo build --release --locked -q -p envctl --bin envctl
  ENVCTL=target/release/envctl
fi
TARGET_MS=${TARGET_MS:-100}
OUT=$(mktemp -d /tmp/envctl-bench-render.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

envs=$("$ENVCTL" list --output json | python3 -c 'import json,sys; print(" ".join(e["name"] for e in json.load(sys.stdin)["environments"]))')
cmds=("$ENVCTL --version")
for env in $envs; do cmds+=("$ENVCTL render $env --out $OUT/$env"); done

hyperfine -N --warmup 3 --min-runs 20 --export-json "$OUT/results.json" "${cmds[@]}"

python3 - "$OUT/results.json" "$TARGET_MS" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
target = float(sys.argv[2])
base = results[0]["mean"]
print(f"\nbaseline (envctl --version): {base * 1000:.1f} ms")
print(f"{'environment':<12} {'mean ms':>8} {'stddev':>7} {'x baseline':>10}  target < {target:.0f} ms")
failed = False
for r in results[1:]:
    env = r["command"].split(" render ")[1].split()[0]
    mean = r["mean"] * 1000
    ok = mean < target
    failed |= not ok
    print(f"{env:<12} {mean:8.1f} {r['stddev'] * 1000:7.1f} {r['mean'] / base:10.2f}  {'ok' if ok else 'TOO SLOW'}")
sys.exit(1 if failed else 0)
PY
