"""README command 1: the demo script runs the main job end to end and cleans up after itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def emulators_running() -> list[str]:
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if "atai_cli emulator --port 0 --output-interval 0.3" in line]


def test_demo_shows_results_and_stops_the_emulator(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATAI_")}
    env.update(ATAI_DEMO_PYTHON=sys.executable, XDG_CONFIG_HOME=str(tmp_path))
    result = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], env=env, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 6 and all(line["type"] == "inference.result" for line in lines)
    labels = [line["event_data"]["response"][0] for line in lines]
    assert labels[0] == "low" and labels[-1] == "high"  # the sample machine idles, then runs hot
    assert "session: lsn-" in result.stderr
    assert emulators_running() == []
