#!/usr/bin/env bash
# Regenerate the console screenshots the role guides show (docs/officials.md, docs/consuls.md,
# docs/operators.md, docs/auditors.md): the browser journeys save them as they run, 1280x800 PNG,
# into docs/images/console/ under stable names. Needs Debian's Chromium (scripts/ensure_chromium.sh).
# Usage: ./scripts/screenshots.sh   (from anywhere; commit the PNGs it changes)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
out=docs/images/console
mkdir -p "$out"
FOCALPOINT_SCREENSHOTS="$out" PYTHONPATH=. "$PYTHON" -m pytest -q -p no:cacheprovider tests/browser/test_journeys.py
ls -l "$out"/*.png
du -ch "$out"/*.png | tail -1
