#!/usr/bin/env bash
# Quick start, command 1: set up .venv and run the whole transfer study on the embedded default (offline, CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
exec .venv/bin/vtl demo "$@"
