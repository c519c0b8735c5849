#!/usr/bin/env bash
# The one test command (README: `bash .ci/test.sh`). On a fresh Debian machine it
# installs what it needs (PostgreSQL server, wrk/hyperfine, a Python venv with the
# checking tools), then runs formatting, lints, every Rust test against a private
# PostgreSQL cluster and the moto server, and the checks of rendered files.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${ENVCTL_TOOLS_VENV:-$ROOT/.ci/venv}

log() { printf '\n==> %s\n' "$*"; }

need_apt=()
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql postgresql-contrib)
command -v psql >/dev/null || need_apt+=(postgresql-client)
command -v npm >/dev/null || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]} (apt-get)"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

if [ ! -x "$VENV/bin/python" ] || ! cmp -s .ci/requirements.txt "$VENV/.requirements"; then
  log "installing Python tools into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r .ci/requirements.txt
  cp .ci/requirements.txt "$VENV/.requirements"
fi
export PATH="$VENV/bin:$PATH"

# npm packages the tests read (GitHub's REST API description for the GitHub API
# stand-in), pinned by .ci/npm/package-lock.json; reinstalled when the lock changes.
NPM_DIR=$ROOT/.ci/npm
if ! cmp -s "$NPM_DIR/package-lock.json" "$NPM_DIR/node_modules/.package-lock.copy"; then
  log "installing npm packages into $NPM_DIR/node_modules"
  npm ci --prefix "$NPM_DIR" --no-audit --no-fund --loglevel=error
  cp "$NPM_DIR/package-lock.json" "$NPM_DIR/node_modules/.package-lock.copy"
fi
export ENVCTL_GITHUB_OPENAPI=$NPM_DIR/node_modules/@octokit/openapi/generated/api.github.com.json
export BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "starting the shared test PostgreSQL cluster"
PGDIR=$(mktemp -d /tmp/envctl-ci-pg.XXXXXX)
cargo build --locked -q -p pgrig --bin pgrig
cleanup() { "$ROOT/target/debug/pgrig" stop "$PGDIR/data" >/dev/null 2>&1 || true; rm -rf "$PGDIR"; }
trap cleanup EXIT
PGRIG_URL=$("$ROOT/target/debug/pgrig" start "$PGDIR/data")
export PGRIG_URL

log "cargo nextest (every Rust test)"
cargo nextest run --workspace --locked --no-fail-fast

for check in .ci/checks/*.sh; do
  [ -e "$check" ] || continue
  log "$check"
  bash "$check"
done

log "all tests passed"
