"""Start-up time of atai, as ratios to `python -c pass` measured in the same run.

    python benchmarks/bench_startup.py [--runs 20]

Commands are run in rotation (so drift on a noisy machine hits all of them alike) and the
median wall time of each is reported. `atai session list` runs against a local emulator.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def atai_command() -> list[str]:
    script = Path(sys.executable).with_name("atai")
    if script.exists():
        return [str(script)]
    found = shutil.which("atai")
    return [found] if found else [sys.executable, "-m", "atai_cli"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    atai = atai_command()
    emulator = subprocess.Popen([*atai, "emulator", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    endpoint = emulator.stdout.readline().strip().split("=", 1)[1]
    key = emulator.stdout.readline().strip().split("=", 1)[1]
    env = {**os.environ, "ATAI_API_ENDPOINT": endpoint, "ATAI_API_KEY": key}
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "atai --version": [*atai, "--version"],
        "atai --help": [*atai, "--help"],
        "atai session list": [*atai, "session", "list", "--json"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    try:
        for name, command in commands.items():  # warm the page cache once
            subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        for _ in range(args.runs):
            for name, command in commands.items():
                start = time.perf_counter()
                subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
                times[name].append(time.perf_counter() - start)
    finally:
        emulator.terminate()
        emulator.wait(10)
    base = statistics.median(times["python -c pass"])
    print(f"## Start-up (median of {args.runs} runs, rotated)\n")
    print("| command | median ms | ratio to python -c pass |")
    print("|---|---:|---:|")
    for name in commands:
        median = statistics.median(times[name])
        print(f"| {name} | {median * 1000:.1f} | {median / base:.2f}x |")


if __name__ == "__main__":
    main()
