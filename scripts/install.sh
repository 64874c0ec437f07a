#!/usr/bin/env bash
# Install atai (editable) with the given extras into ./.venv, unless that exact install is
# already there: the stamp is a hash of pyproject.toml and the extras, so editing the code
# needs no reinstall and editing the dependencies triggers one.
#   scripts/install.sh test        # what scripts/test.sh uses
#   scripts/install.sh emulator    # what scripts/demo.sh uses
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-test}"
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=".venv/.atai-install-$extras"
want=$( (cat pyproject.toml; echo "$extras") | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$extras]"
  echo "$want" >"$stamp"
fi
