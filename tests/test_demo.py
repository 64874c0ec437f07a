"""README command 1: the demo script runs the main job end to end and cleans up after itself,
in the right order: the session is destroyed while the emulator still runs, even on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def demo_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATAI_")}
    env.update(ATAI_DEMO_PYTHON=sys.executable, XDG_CONFIG_HOME=str(tmp_path))
    return env


def gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def emulator_pid(stderr: str) -> int:
    return int(re.search(r"emulator: \S+ \(pid (\d+)\)", stderr)[1])


def test_demo_shows_results_and_stops_the_emulator(tmp_path):
    result = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], env=demo_env(tmp_path),
                            capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 6 and all(line["type"] == "inference.result" for line in lines)
    labels = [line["event_data"]["response"][0] for line in lines]
    assert labels[0] == "low" and labels[-1] == "high"  # the sample machine idles, then runs hot
    session = re.search(r"session: (lsn-\w+)", result.stderr)[1]
    assert f"destroyed {session}" in result.stderr
    assert gone(emulator_pid(result.stderr))


def test_ctrl_c_in_the_demo_destroys_the_session_before_the_emulator_stops(tmp_path):
    env = demo_env(tmp_path)
    demo = subprocess.Popen(["bash", str(ROOT / "scripts" / "demo.sh")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    seen = ""
    while "session: lsn-" not in seen:
        line = demo.stderr.readline()
        assert line, "the demo ended before it created its session"
        seen += line
    os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in its terminal does
    rest, _ = demo.communicate(timeout=30)[1], None
    stderr = seen + rest
    assert demo.returncode == 130, stderr
    session = re.search(r"session: (lsn-\w+)", stderr)[1]
    assert f"destroyed {session}" in stderr  # the emulator was still there to destroy it
    assert gone(emulator_pid(stderr))
