#!/bin/sh
# Regenerates docker/requirements.lock — the exact, hash-checked dependency versions the image
# installs — from pyproject.toml's dependencies, with pip-tools in a throw-away virtual
# environment. Run it with Python 3.11 (the image's) after changing the dependencies:
#   docker/lock.sh             # keeps the current pins, adds and drops what pyproject.toml changed
#   docker/lock.sh -U          # newest versions pyproject.toml allows
#   docker/lock.sh -P fastapi  # upgrade one package (any pip-compile option works)
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
"$PYTHON" -m venv "$venv"
"$venv/bin/pip" install -q 'pip-tools>=7.4,<8'
CUSTOM_COMPILE_COMMAND=docker/lock.sh "$venv/bin/pip-compile" -q --generate-hashes --strip-extras \
    --no-emit-index-url --no-emit-find-links --output-file docker/requirements.lock "$@" pyproject.toml
