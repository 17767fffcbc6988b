#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the browser tests (tests/browser/).
# The tests drive the distribution's Chromium through Playwright's executable_path, never a browser
# downloaded by `playwright install`: Debian patches it and ships its security updates.
# As root (CI) it installs the package when missing; otherwise it says what to run and carries on, so
# a developer without Chromium can still run the rest of the check (the browser tests then skip
# locally, and fail in CI).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    chromium --version
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    echo "== installing chromium (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
    chromium --version
else
    echo "chromium is not installed: the browser tests will be skipped." >&2
    echo "To run them: sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium" >&2
fi
