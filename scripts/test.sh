#!/usr/bin/env bash
# Install atai with its test dependencies into .venv (when not installed already) and run the
# whole test suite; pytest arguments pass through.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh test
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: treating that as a failure" >&2
  exit 1
fi
exit "$status"
