#!/usr/bin/env bash
# Build the wheel, install it with the emulator extra into a fresh virtual environment (not
# editable), and run it from there: --version, then a session against its own emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
work=$(mktemp -d)
emulator_pid=""
cleanup() {
  [ -n "$emulator_pid" ] && kill "$emulator_pid" 2>/dev/null && wait "$emulator_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$PYTHON" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$work/dist" .
wheel=$(ls "$work"/dist/atai_cli-*.whl)
echo "built $(basename "$wheel")"
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel[emulator]"
atai="$work/venv/bin/atai"
"$atai" --version
(cd "$work" && "$work/venv/bin/python" -c 'import atai_cli, sys; assert "site-packages" in atai_cli.__file__, atai_cli.__file__')

"$atai" emulator --port 0 >"$work/emulator.env" 2>"$work/emulator.log" &
emulator_pid=$!
for _ in $(seq 200); do [ "$(wc -l <"$work/emulator.env")" -ge 2 ] && break; sleep 0.05; done
set -a; . "$work/emulator.env"; set +a
export XDG_CONFIG_HOME="$work/config"
"$atai" lens list --json | "$work/venv/bin/python" -c 'import json, sys; assert any(l["lens_id"] == "lns-emulator-sse" for l in json.load(sys.stdin))'
sid=$("$atai" session create lns-emulator-sse -q)
"$atai" session destroy "$sid"
echo "wheel smoke test passed"
