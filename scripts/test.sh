#!/usr/bin/env bash
# Install atai with its test dependencies into .venv (when not installed already) and run the
# whole test suite, in parallel: one pytest-xdist worker per core, each with its own emulator
# (the session-scoped fixture in tests/conftest.py). pytest arguments pass through and come
# last, so `-n 0` runs the suite in one process.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh test
set +e
.venv/bin/python -m pytest -n auto "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: treating that as a failure" >&2
  exit 1
fi
exit "$status"
