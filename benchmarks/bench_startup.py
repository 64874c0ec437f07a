"""Start-up time of atai, as ratios to `python -c pass` measured in the same run.

    python benchmarks/bench_startup.py [--runs 20] [--breakdown] [--compare DIR]

Commands are run in rotation (so drift on a noisy machine hits all of them alike); the median
wall time and the median CPU time (user + system) of each are reported. CPU time moves less
than wall time when other work shares the cores. `session list` and `lens list` run against a
local emulator. --breakdown adds where `session list`'s import time goes (`python -X
importtime`, median of 5 runs), by library, each library with the standard modules it is the
first to import.

--compare DIR adds the same atai commands run from another checkout's atai_cli (DIR holds its
atai_cli/, e.g. `git archive OLD atai_cli | tar -x -C DIR`), with the same interpreter and
libraries, in the same rotation: a before/after of one change on one noisy machine.

PYTHONDONTWRITEBYTECODE and PYTHONUNBUFFERED are removed from the children's environment: with
the first, an editable install recompiles every atai module on every run, which no installed
atai does.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


LIBRARIES = {
    "typer": "typer", "click": "typer",
    "pydantic": "pydantic", "pydantic_core": "pydantic", "typing_extensions": "pydantic",
    "typing_inspection": "pydantic", "annotated_types": "pydantic",
    "httpx": "httpx", "httpcore": "httpx", "h11": "httpx", "certifi": "httpx", "idna": "httpx",
    "anyio": "httpx", "sniffio": "httpx",
    "pydantic_settings": "pydantic-settings", "dotenv": "pydantic-settings",
    "rich": "rich", "atai_cli": "atai", "websocket": "websocket-client",
}
IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def atai_command() -> list[str]:
    script = Path(sys.executable).with_name("atai")
    if script.exists():
        return [str(script)]
    found = shutil.which("atai")
    return [found] if found else [sys.executable, "-m", "atai_cli"]


def timed(command: list[str], env: dict) -> tuple[float, float]:
    """(wall, user + system CPU) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def library(module: str) -> str | None:
    if module.startswith("pydantic.plugin"):
        return "pydantic's plugin loader"
    if module == "site" or module.startswith("__editable__"):
        return "site (and the editable install's finder)"
    return LIBRARIES.get(module.split(".")[0])


def breakdown(command: list[str], env: dict, runs: int = 5) -> list[tuple[str, float]]:
    """Self import time per library (with the standard modules it pulls in first), median of runs."""
    per_run = []
    for _ in range(runs):
        result = subprocess.run([sys.executable, "-X", "importtime", *command], env=env, capture_output=True, text=True, check=True)
        rows = [(int(m[1]), len(m[3]) // 2, m[4]) for m in map(IMPORT_LINE.match, result.stderr.splitlines()) if m]
        totals: collections.Counter = collections.Counter()
        ancestors: list[tuple[int, str]] = []
        for self_us, depth, module in reversed(rows):  # importtime prints a module after its imports
            while ancestors and ancestors[-1][0] >= depth:
                ancestors.pop()
            owner = library(module) or next((library(m) for _, m in reversed(ancestors) if library(m)), None) or "other standard library"
            totals[owner] += self_us / 1000
            ancestors.append((depth, module))
        per_run.append(totals)
    names = {name for totals in per_run for name in totals}
    return sorted(((name, statistics.median(t.get(name, 0.0) for t in per_run)) for name in names), key=lambda item: -item[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--breakdown", action="store_true", help="also break session list's import time down by library")
    parser.add_argument("--compare", metavar="DIR", help="also run the atai_cli found in DIR (PYTHONPATH=DIR), rotated with the rest")
    args = parser.parse_args()
    atai = atai_command()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")}
    emulator = subprocess.Popen([*atai, "emulator", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    endpoint = emulator.stdout.readline().strip().split("=", 1)[1]
    key = emulator.stdout.readline().strip().split("=", 1)[1]
    env.update({"ATAI_API_ENDPOINT": endpoint, "ATAI_API_KEY": key})
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "atai --version": [*atai, "--version"],
        "atai --help": [*atai, "--help"],
        "atai session list --json": [*atai, "session", "list", "--json"],
        "atai lens list --json": [*atai, "lens", "list", "--json"],
    }
    envs = {name: env for name in commands}
    if args.compare:
        subprocess.run([sys.executable, "-m", "compileall", "-q", args.compare], env=env, stdout=subprocess.DEVNULL, check=True)
        for name in [n for n in commands if n.startswith("atai")]:
            commands[f"{name} (compare)"] = commands[name]
            envs[f"{name} (compare)"] = {**env, "PYTHONPATH": args.compare}
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    try:
        for name, command in commands.items():  # warm the page cache and write the bytecode once
            subprocess.run(command, env=envs[name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        for _ in range(args.runs):
            for name, command in commands.items():
                wall, cpu = timed(command, envs[name])
                walls[name].append(wall)
                cpus[name].append(cpu)
        parts = {"": breakdown(commands["atai session list --json"], env)} if args.breakdown else {}
        if args.breakdown and args.compare:
            parts[" (compare)"] = breakdown(commands["atai session list --json"], envs["atai session list --json (compare)"])
    finally:
        emulator.terminate()
        emulator.wait(10)
    base_wall = statistics.median(walls["python -c pass"])
    base_cpu = statistics.median(cpus["python -c pass"])
    print(f"## Start-up (median of {args.runs} runs, rotated)\n")
    print("| command | wall ms | wall / python -c pass | CPU ms | CPU / python -c pass |")
    print("|---|---:|---:|---:|---:|")
    for name in sorted(commands, key=lambda n: (list(commands).index(n.removesuffix(" (compare)")), "compare" not in n)):
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        print(f"| {name} | {wall * 1000:.1f} | {wall / base_wall:.2f}x | {cpu * 1000:.1f} | {cpu / base_cpu:.2f}x |")
    for label, rows in parts.items():
        total = sum(ms for _, ms in rows)
        print(f"\n### Import time of `atai session list --json`{label} by library (median of 5, {total:.0f} ms in all)\n")
        print("| library (with the standard modules it imports first) | ms | share |")
        print("|---|---:|---:|")
        for name, ms in rows:
            print(f"| {name} | {ms:.1f} | {ms / total:.0%} |")


if __name__ == "__main__":
    main()
