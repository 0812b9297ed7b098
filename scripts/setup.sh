#!/usr/bin/env bash
# Create (once) the main environment in .venv: Python 3.11, torch 2.13.0 (CPU
# build), and this package in editable mode with its test extras; then the
# Lava environment in .venv-lava (see scripts/setup_lava.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
VENV=.venv
STAMP="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"

# The Lava environment (.venv-lava, Python 3.10) is optional: without it
# every command works except --backend lava.
bash scripts/setup_lava.sh || echo "setup: Lava environment not created; --backend lava is unavailable" >&2

if [ -f "$STAMP" ]; then
    exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV with $PYTHON" >&2
    "$PYTHON" -m venv "$VENV"
fi
echo "setup: installing dependencies into $VENV (first run takes a few minutes)" >&2
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# torch is pinned alone first: the CPU build of 2.13.0 is served from local disk,
# while an unpinned torch would pull a multi-GB CUDA build.
"$VENV/bin/python" -m pip install --quiet "torch==2.13.0"
"$VENV/bin/python" -m pip install --quiet -e ".[test,pdf]"
rm -f "$VENV"/.installed-*
touch "$STAMP"
echo "setup: done" >&2
