#!/usr/bin/env bash
# Install atai into .venv, start the local emulator, run a session on its SSE lens over the
# sample CSV shipped with atai, tail the results live, then destroy the session and stop the
# emulator (also on Ctrl-C or an error).
#
# ATAI_DEMO_PYTHON=/path/to/python skips the install and uses that interpreter's atai (tests).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${ATAI_DEMO_PYTHON:-}" ]; then
  py="$ATAI_DEMO_PYTHON"
else
  [ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[emulator]'
  py=.venv/bin/python
fi
atai() { "$py" -m atai_cli "$@"; }

workdir=$(mktemp -d)
emulator_pid=""
session_id=""
cleanup() {
  [ -n "$session_id" ] && atai session destroy "$session_id" >/dev/null 2>&1 || true
  [ -n "$emulator_pid" ] && kill "$emulator_pid" 2>/dev/null && wait "$emulator_pid" 2>/dev/null || true
  rm -rf "$workdir"
}
trap cleanup EXIT INT TERM

# Started directly (not through the function) so that $! is the emulator itself.
"$py" -m atai_cli emulator --port 0 --output-interval 0.3 >"$workdir/emulator.env" 2>"$workdir/emulator.log" &
emulator_pid=$!
for _ in $(seq 100); do [ "$(wc -l <"$workdir/emulator.env")" -ge 2 ] && break; sleep 0.05; done
set -a; . "$workdir/emulator.env"; set +a
echo "emulator: $ATAI_API_ENDPOINT" >&2

sample=$("$py" -c 'import atai_cli, pathlib; print(pathlib.Path(atai_cli.__file__).parent / "data" / "sample.csv")')
atai files upload "$sample" >/dev/null
session_id=$(atai session create lns-emulator-sse -q)
echo "session: $session_id" >&2

# Outputs are live-only: the tail must be listening before the input starts.
atai tail "$session_id" --max-events 6 --timeout 30 &
tail_pid=$!
sleep 1
atai stream set "$session_id" --type csv_file_reader --file-id sample.csv
wait "$tail_pid"
