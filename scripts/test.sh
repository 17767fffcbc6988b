#!/usr/bin/env bash
# Install everything into .venv and run the whole check: generated code, lint, types, tests.
# As root (CI) it also installs Debian's Chromium for the browser tests when it is missing.
# Usage: ./scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
# The runtime dependencies at the locked versions, checked against their hashes (the versions a
# production install gets, docs/operations.md §1), then the package and its development tools.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
export PATH="$PWD/.venv/bin:$PATH"
echo "== generated protobuf code matches proto/"
python scripts/gen_proto.py --check
echo "== ruff"
ruff check .
ruff format --check .
echo "== import contracts"
lint-imports --no-logo
echo "== mypy (strict)"
mypy
echo "== chromium for the browser tests"
./scripts/ensure_chromium.sh
echo "== pytest"
set +e
# Worker processes (pytest-xdist; FOCALPOINT_TEST_WORKERS, default 2): most tests wait on sockets
# and disks, not the CPU. Each worker starts its own browser and stage for the browser tests it gets
# (pytest 9 ignores xdist's grouping). Run pytest with -n 0 to stay in one process (e.g. with --pdb).
python -m pytest -n "${FOCALPOINT_TEST_WORKERS:-2}" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$rc"
