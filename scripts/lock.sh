#!/usr/bin/env bash
# Regenerate requirements.lock: every runtime dependency of pyproject.toml (and theirs), pinned
# exactly, each with the sha256 of every file PyPI publishes for that version, so that
# `pip install --require-hashes -r requirements.lock` installs byte for byte what was locked.
#
# The versions are those of the project's development environment (PYTHON, default .venv/bin/python),
# the ones the test suite ran with: to upgrade a dependency, upgrade it there, run the tests, then
# run this script. pip-tools runs in a throw-away virtual environment, never in the project's.
#
# Usage: scripts/lock.sh            (from the repository's root)
#        PYTHON=/path/to/venv/bin/python scripts/lock.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
PIP_TOOLS_VERSION="7.6.2"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The development environment's versions as constraints (the project itself and editable installs left out).
"$PYTHON" -m pip freeze --exclude-editable | grep -v -i '^focalpoint[= @]' >"$work/constraints.txt"

"$PYTHON" -m venv "$work/tools"
"$work/tools/bin/python" -m pip install --quiet --disable-pip-version-check "pip-tools==$PIP_TOOLS_VERSION"
"$work/tools/bin/pip-compile" \
    --quiet \
    --generate-hashes \
    --allow-unsafe \
    --strip-extras \
    --no-emit-index-url \
    --no-emit-find-links \
    --constraint "$work/constraints.txt" \
    --output-file requirements.lock \
    pyproject.toml
# pip-compile names the constraints file by its temporary path; keep the lock free of it.
sed -i -e "s#$work/constraints.txt#the development environment (scripts/lock.sh)#" requirements.lock
echo "requirements.lock written: $(grep -c '^[a-zA-Z0-9]' requirements.lock) packages"
