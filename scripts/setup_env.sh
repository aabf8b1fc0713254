#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv and install vtl with its test extra.
# Torch: a CPU machine of this project takes torch==2.14.1 / torchvision==0.29.1 from pip's local cache or PyPI.
# GPU users: install your own build first (e.g. `pip install torch torchvision --index-url
# https://download.pytorch.org/whl/cu128` inside .venv) or set VTL_TORCH_SPEC; an importable torch is kept as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VTL_VENV:-.venv}"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x "$venv/bin/python" ]; then
  echo "[setup] creating $venv with $python"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip
if ! "$venv/bin/python" -c "import torch, torchvision" >/dev/null 2>&1; then
  echo "[setup] installing ${VTL_TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1} (a few minutes)"
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install -q ${VTL_TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}
fi
if [ "${VTL_SKIP_INSTALL:-0}" != 1 ]; then
  echo "[setup] installing vtl and its dependencies"
  "$venv/bin/python" -m pip install -q -e ".[test]"
fi
# The explorer's browser test (tests/test_explorer_browser.py) drives Debian's chromium through playwright's driver;
# no browser is downloaded. Installed here when missing and we may (root with apt-get); otherwise the test names it.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing Debian's chromium for the browser test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "[setup] no chromium: tests/test_explorer_browser.py needs it (sudo apt-get install chromium)" >&2
  fi
fi
