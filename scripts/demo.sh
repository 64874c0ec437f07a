#!/usr/bin/env bash
# Install atai into .venv (when not installed already), start the local emulator, run a
# session on its SSE lens over the sample CSV shipped with atai, tail the results live, then
# destroy the session and stop the emulator, in that order (also on Ctrl-C or an error).
#
# ATAI_DEMO_PYTHON=/path/to/python skips the install and uses that interpreter's atai (tests).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${ATAI_DEMO_PYTHON:-}" ]; then
  py="$ATAI_DEMO_PYTHON"
else
  ./scripts/install.sh emulator
  py=.venv/bin/python
fi
atai() { "$py" -m atai_cli "$@"; }

workdir=$(mktemp -d)
emulator_pid=""
session_id=""
cleanup() {
  trap - EXIT INT TERM
  [ -n "$session_id" ] && atai session destroy "$session_id" || true
  [ -n "$emulator_pid" ] && kill "$emulator_pid" 2>/dev/null && wait "$emulator_pid" 2>/dev/null || true
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# In a session of its own (setsid), so a Ctrl-C in this terminal reaches the demo, which
# destroys the session first, and not the emulator directly.
setsid "$py" -m atai_cli emulator --port 0 --output-interval 0.3 >"$workdir/emulator.env" 2>"$workdir/emulator.log" &
emulator_pid=$!
for _ in $(seq 200); do [ "$(wc -l <"$workdir/emulator.env")" -ge 2 ] && break; sleep 0.05; done
set -a; . "$workdir/emulator.env"; set +a
export XDG_CONFIG_HOME="$workdir/config"
echo "emulator: $ATAI_API_ENDPOINT (pid $emulator_pid)" >&2

sample=$("$py" -c 'import atai_cli, pathlib; print(pathlib.Path(atai_cli.__file__).parent / "data" / "sample.csv")')
atai files upload "$sample" >/dev/null
session_id=$(atai session create lns-emulator-sse -q)
echo "session: $session_id" >&2

# Outputs are live-only: the tail must be listening before the input starts, so wait until
# the emulator sees its reader (no fixed sleep).
atai tail "$session_id" --max-events 6 --timeout 30 &
tail_pid=$!
"$py" - "$session_id" <<'PY'
import json, os, sys, time, urllib.request
base = os.environ["ATAI_API_ENDPOINT"].rsplit("/v0.5", 1)[0]
request = urllib.request.Request(f"{base}/_emulator/sessions/{sys.argv[1]}",
                                 headers={"Authorization": "Bearer " + os.environ["ATAI_API_KEY"]})
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    if json.load(urllib.request.urlopen(request))["sse_readers"]:
        break
    time.sleep(0.05)
PY
atai stream set "$session_id" --type csv_file_reader --file-id sample.csv
wait "$tail_pid"
