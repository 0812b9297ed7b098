#!/usr/bin/env bash
# Create (once) the Lava environment in .venv-lava: Python 3.10 with
# lava-nc 0.10, numpy < 2 and PyYAML. lava-nc 0.10.0 does not import on
# Python 3.11 or with numpy 2, so it cannot share .venv; the main package
# runs it through a worker process under this interpreter.
#
# The interpreter is $PYTHON310 when set, else pyenv's 3.10.13 where pyenv
# has it, else python3.10 on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-lava
REQUIREMENTS='lava-nc==0.10.* numpy<2 pyyaml>=6'
STAMP="$VENV/.installed-$(echo "$REQUIREMENTS" | sha256sum | cut -c1-16)"

if [ -f "$STAMP" ]; then
    exit 0
fi

find_python310() {
    if [ -n "${PYTHON310:-}" ]; then
        echo "$PYTHON310"
    elif PYENV_VERSION=3.10.13 python3.10 -c '' >/dev/null 2>&1; then
        # Resolve pyenv's shim to the real interpreter so the venv does not
        # depend on PYENV_VERSION later.
        PYENV_VERSION=3.10.13 python3.10 -c 'import sys; print(sys.executable)'
    elif python3.10 -c '' >/dev/null 2>&1; then
        python3.10 -c 'import sys; print(sys.executable)'
    else
        echo "setup_lava: no Python 3.10 found; install one or set PYTHON310=/path/to/python3.10" >&2
        return 1
    fi
}

if [ ! -x "$VENV/bin/python" ]; then
    PYTHON=$(find_python310)
    echo "setup_lava: creating $VENV with $PYTHON" >&2
    "$PYTHON" -m venv "$VENV"
fi
VERSION=$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$VERSION" != "3.10" ]; then
    echo "setup_lava: $VENV runs Python $VERSION, but lava-nc 0.10 needs 3.10; delete $VENV and rerun" >&2
    exit 1
fi
echo "setup_lava: installing lava-nc into $VENV (first run takes a few minutes)" >&2
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# shellcheck disable=SC2086  # the requirement list is split on purpose
"$VENV/bin/python" -m pip install --quiet $REQUIREMENTS
"$VENV/bin/python" -c 'import lava.magma.core.run_configs, numpy; assert numpy.__version__ < "2"'
rm -f "$VENV"/.installed-*
touch "$STAMP"
echo "setup_lava: done" >&2
