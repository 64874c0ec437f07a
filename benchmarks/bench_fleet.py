"""One `atai tail` following many sessions against as many single-session `atai tail`
processes: memory, CPU, delivery and latency (issue 10). Measured in the same run, against the
one-session case as the baseline (machines are noisy: compare ratios, not absolute numbers).

    python benchmarks/bench_fleet.py                        # sizes 1,10,100,200, 30 s at 5 events/s
    python benchmarks/bench_fleet.py --separate-max 200     # also 200 separate processes (heavy)
    python benchmarks/bench_fleet.py --quick                # sizes 1,10 for 5 s: a smoke run
    python benchmarks/bench_fleet.py --compare DIR          # also an older atai_cli in DIR, interleaved

Each case: N sessions of `lns-emulator-sse` (SSE channel), each fed the emulator's
synthetic_reader at --rate events/s for --seconds (every result stamped with `emitted_at`).
Once every reader is connected, every stream is started; when every session has emitted all
its events and every one of them is on stdout, the atai processes get SIGINT (exit 130).
- peak RSS: `wait4` rusage ru_maxrss of each atai process (the sum for separate processes);
- CPU: user + system seconds of the atai process(es) only, start-up included;
- CPU s per s: atai's CPU while the streams run (from the first input_stream.set to the last
  line on stdout, read from /proc: no start-up, no shutdown) per second of that window; the
  emulator's the same way, in its own column;
- events/s: lines printed / (last line on stdout - first input_stream.set);
- printed / emitted: lines on stdout vs the emulator's num_outputs; every session's seqs are
  checked to be 0..count-1, once each, in order;
- latency: stdout is read through pipes by one epoll thread that timestamps each read as it
  returns (lines are parsed after the run); latency = that time - emitted_at.
Mailbox rows: the same with `lns-emulator-mailbox` (session.read polling), one process.

--compare DIR (repeatable) runs an older atai (DIR holds its atai_cli package, e.g. from `git archive OLD
atai_cli`) with PYTHONPATH=DIR, in the same case as the current one (which tree goes first
rotates from case to case), against the same emulator (this checkout's unless --emulator-tree,
started once): the difference is atai's alone.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_tail  # noqa: E402  (its Emulator helper)

PY = sys.executable
ATAI = [PY, "-m", "atai_cli"]
SSE_LENS = "lns-emulator-sse"
MAILBOX_LENS = "lns-emulator-mailbox"
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


class Emulator(bench_tail.Emulator):
    """bench_tail's helper, started with no model latency and the given retention."""

    def __init__(self, retention: int = 4096, tree: str | None = None) -> None:
        super().__init__(retention=retention, connections=16, tree=tree)

    def env(self, tree: str | None = None) -> dict:
        """atai's environment as a user's shell has it: PYTHONUNBUFFERED (set in some CI and
        container images) would make stdout unbuffered, one write per line, undoing atai's
        one flush per network read. With a tree, its atai_cli is imported first."""
        env = super().env()
        env.pop("PYTHONUNBUFFERED", None)
        if tree is not None:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (tree, env.get("PYTHONPATH")) if p)
        return env

    def sessions(self, lens_id: str, n: int) -> list[str]:
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(lambda _: self.session(lens_id), range(n)))

    def destroy(self, session_ids: list[str]) -> None:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda sid: self.http.post("lens/sessions/destroy", json={"session_id": sid}), session_ids))

    def stream(self, session_id: str, count: int, rate_hz: float, payload_bytes: int = 64, end: bool = False) -> None:
        reply = self.event(session_id, "input_stream.set", {"stream_type": "synthetic_reader", "stream_config": {
            "count": count, "payload_bytes": payload_bytes, "rate_hz": rate_hz, "end": end}})
        assert reply["event_data"]["is_valid"], reply

    def emitted(self, session_id: str) -> int:
        return self.http.get(f"{self.root}/_emulator/sessions/{session_id}").json()["num_outputs"]

    def readers(self, session_id: str) -> int:
        return self.http.get(f"{self.root}/_emulator/sessions/{session_id}").json()["sse_readers"]

    def cpu_seconds(self) -> float:
        return proc_cpu(self.proc.pid)


def proc_cpu(pid: int) -> float:
    """utime + stime of a live process, from /proc (for the emulator: context, not a result)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


class LineReader(threading.Thread):
    """Reads any number of pipes in one thread (epoll) and timestamps every read as it returns.
    Lines are kept as bytes and parsed after the run, so reading is never the bottleneck."""

    def __init__(self, fds: list[int]) -> None:
        super().__init__(name="line-reader", daemon=True)
        self.selector = selectors.DefaultSelector()
        self.lines: list[list[tuple[float, bytes]]] = [[] for _ in fds]
        self.pending = [b""] * len(fds)
        self.count = 0
        for index, fd in enumerate(fds):
            self.selector.register(fd, selectors.EVENT_READ, index)
        self.open = len(fds)

    def run(self) -> None:
        while self.open:
            for key, _ in self.selector.select(1.0):
                chunk = os.read(key.fd, 1 << 16)
                now = time.time()
                index = key.data
                if not chunk:
                    self.selector.unregister(key.fd)
                    self.open -= 1
                    continue
                parts = (self.pending[index] + chunk).split(b"\n")
                self.pending[index] = parts.pop()
                self.lines[index].extend((now, line) for line in parts)
                self.count += len(parts)


def restore_sigint() -> None:
    """A shell starts background jobs (`cmd &`) with SIGINT ignored, and an ignored signal stays
    ignored across exec: atai would never see the benchmark's SIGINT. A handler is reset to the
    default on exec, so the children get Python's usual KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest rank."""
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def stderr_lines_with(paths: list[str], needle: str) -> int:
    total = 0
    for path in paths:
        with open(path, errors="replace") as f:
            total += sum(1 for line in f if needle in line)
    return total


def run_case(emu: Emulator, lens_id: str, n: int, separate: bool, count: int, rate: float,
             tree: str | None = None) -> dict:
    session_ids = emu.sessions(lens_id, n)
    commands = [[*ATAI, "tail", sid, "--json"] for sid in session_ids] if separate else [[*ATAI, "tail", *session_ids, "--json"]]
    tmp = tempfile.mkdtemp(prefix="bench-fleet-")
    err_paths = [os.path.join(tmp, f"stderr-{i}") for i in range(len(commands))]
    procs = []
    for command, err_path in zip(commands, err_paths):
        with open(err_path, "wb") as err:
            # `python -m` puts the working directory first on sys.path: run an older tree from
            # inside it, so this checkout's atai_cli does not shadow it.
            procs.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, env=emu.env(tree), cwd=tree))
    reader = LineReader([p.stdout.fileno() for p in procs])
    reader.start()
    expected = n * count
    try:
        # Every reader connected before any stream starts.
        deadline = time.monotonic() + 60 + 0.5 * n
        if lens_id == SSE_LENS:
            for sid in session_ids:
                while emu.readers(sid) < 1:
                    if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                        raise RuntimeError(f"readers did not connect ({n} sessions, separate={separate})")
                    time.sleep(0.01)
        else:  # the read channel has no reader to wait for: its start line, then the first poll
            while stderr_lines_with(err_paths, " channel") < n:
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise RuntimeError(f"followers did not start ({n} sessions)")
                time.sleep(0.05)
            time.sleep(0.5)
        cpu_emu0 = emu.cpu_seconds()
        cpu_atai0 = sum(proc_cpu(p.pid) for p in procs)
        started = time.time()
        for sid in session_ids:
            emu.stream(sid, count, rate)
        # Until every event is emitted and on stdout (or something is clearly stuck).
        deadline = time.monotonic() + count / rate + 60
        while reader.count < expected and time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                break
            time.sleep(0.05)
        emitted = sum(emu.emitted(sid) for sid in session_ids)
        settle = time.monotonic() + 5  # the last few lines may be in flight
        while reader.count < emitted and time.monotonic() < settle:
            time.sleep(0.05)
        cpu_emu = emu.cpu_seconds() - cpu_emu0
        streamed = time.time() - started
        cpu_atai_stream = sum(proc_cpu(p.pid) for p in procs if p.poll() is None) - cpu_atai0
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        rss_kib = cpu = 0.0
        codes = []
        for p in procs:
            if p.returncode is not None:  # already reaped by poll(): it failed early, no rusage
                codes.append(p.returncode)
                continue
            _, status, usage = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            codes.append(p.returncode)
            rss_kib += usage.ru_maxrss
            cpu += usage.ru_utime + usage.ru_stime
        reader.join(30)
        for p in procs:
            p.stdout.close()
        emu.destroy(session_ids)
        if not [c for c in codes if c != 130]:
            shutil.rmtree(tmp, ignore_errors=True)

    delays: list[float] = []
    seqs: dict[str, list[int]] = {sid: [] for sid in session_ids}
    last_line = started
    for index, lines in enumerate(reader.lines):
        for arrived, raw in lines:
            doc = json.loads(raw)
            if "session_id" in doc and "payload" in doc:  # the several-sessions shape
                sid, result = doc["session_id"], doc["payload"]
            else:  # one session: the server's data line
                sid, result = session_ids[index], doc.get("event_data") or doc.get("data")
            seqs[sid].append(result["seq"])
            delays.append((arrived - result["emitted_at"]) * 1000)
            last_line = max(last_line, arrived)
    complete = all(s == list(range(count)) for s in seqs.values())
    delays.sort()
    printed = len(delays)
    bad_exits = [c for c in codes if c != 130]
    errors = ""
    if bad_exits:
        errors = f"stderr kept in {tmp}"
    return {
        "sessions": n, "mode": f"{n} processes" if separate else "one process", "lens": lens_id,
        "tree": tree or "current", "streamed_s": streamed,
        "rss_mib": rss_kib / 1024, "cpu_s": cpu, "emulator_cpu_s": cpu_emu,
        "cpu_per_s": cpu_atai_stream / streamed, "emulator_cpu_per_s": cpu_emu / streamed,
        "events_per_s": printed / (last_line - started) if printed else 0.0, "expected_per_s": n * rate,
        "printed": printed, "emitted": emitted, "complete": complete,
        "p50_ms": statistics.median(delays) if delays else float("nan"),
        "p99_ms": percentile(delays, 0.99) if delays else float("nan"),
        "max_ms": delays[-1] if delays else float("nan"),
        "exit_codes": sorted(set(codes)), "errors": errors,
    }


def row(r: dict) -> str:
    ok = "all, in order" if r["complete"] and r["printed"] == r["emitted"] else "**MISSING/DISORDER**"
    return (f"| {r['sessions']} | {r['mode']} | {r['label']} | {r['rss_mib']:.1f} | {r['cpu_s']:.2f} | "
            f"{r['cpu_per_s']:.3f} | {r['events_per_s']:,.1f} "
            f"({r['expected_per_s']:g}) | {r['printed']:,} / {r['emitted']:,} ({ok}) | {r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['max_ms']:.1f} | {r['emulator_cpu_s']:.1f} | {r['emulator_cpu_per_s']:.3f} |")


HEADER = ("| sessions | atai processes | atai | peak RSS MiB | CPU s | CPU s per s | events/s (expected) | printed / emitted "
          "| p50 ms | p99 ms | max ms | emulator CPU s | emulator CPU s per s |\n"
          "|---:|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")


def rotated(trees: list, turn: int) -> list:
    turn %= len(trees)
    return trees[turn:] + trees[:turn]


def label(tree: str | None) -> str:
    return "this tree" if tree is None else Path(tree).name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,10,100,200", help="sessions per case, comma-separated (SSE)")
    parser.add_argument("--mailbox-sizes", default="1,10,100", help="sessions per mailbox case (one process); '' for none")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long each session streams")
    parser.add_argument("--rate", type=float, default=5.0, help="events/s per session")
    parser.add_argument("--separate-max", type=int, default=100,
                        help="run N separate processes only up to this N (default 100: 200 processes is opt-in)")
    parser.add_argument("--quick", action="store_true", help="sizes 1,10 (mailbox 1,10) for 5 s: a smoke run")
    parser.add_argument("--json", metavar="FILE", help="also write every result to FILE")
    parser.add_argument("--compare", metavar="TREE", action="append", default=[],
                        help="a directory holding an older atai_cli: each case is run with it too, interleaved "
                             "(repeatable)")
    parser.add_argument("--emulator-tree", metavar="TREE",
                        help="serve from this directory's atai_cli emulator instead of this checkout's")
    args = parser.parse_args()
    restore_sigint()
    if args.quick:
        args.sizes, args.mailbox_sizes, args.seconds = "1,10", "1,10", 5.0
    sizes = [int(s) for s in args.sizes.split(",") if s]
    mailbox_sizes = [int(s) for s in args.mailbox_sizes.split(",") if s]
    count = max(1, round(args.seconds * args.rate))
    compares = [str(Path(tree).resolve()) for tree in args.compare]
    for tree in compares:
        if not (Path(tree) / "atai_cli" / "__init__.py").is_file():
            parser.error(f"--compare {tree}: no atai_cli package in it")
    trees = [None, *compares]
    emu = Emulator(tree=str(Path(args.emulator_tree).resolve()) if args.emulator_tree else None)
    results = []
    try:
        print(f"## Many sessions: one `atai tail` vs one process per session ({count} events per session at "
              f"{args.rate:g}/s, SSE)\n", flush=True)
        print(HEADER, flush=True)
        turn = 0
        for n in sizes:
            modes = [False] + ([True] if 1 < n <= args.separate_max else [])
            for separate in modes:
                # Which tree goes first rotates, so none always meets a warmer emulator.
                for tree in rotated(trees, turn):
                    r = run_case(emu, SSE_LENS, n, separate, count, args.rate, tree)
                    r["label"] = label(tree)
                    results.append(r)
                    print(row(r), flush=True)
                turn += 1
        fleet = {r["sessions"]: r for r in results if r["mode"] == "one process" and r["tree"] == "current"}
        base = fleet.get(1)
        print()
        if base:
            for n, r in fleet.items():
                if n > 1:
                    print(f"- one process, {n} sessions: peak RSS {r['rss_mib'] / base['rss_mib']:.2f}x one session's, "
                          f"CPU {r['cpu_s'] / base['cpu_s']:.2f}x")
        for compare in compares:
            old = {r["sessions"]: r for r in results if r["mode"] == "one process" and r["tree"] == compare}
            for n, r in fleet.items():
                if n in old:
                    o = old[n]
                    print(f"- {n} sessions, this tree vs {label(compare)}: CPU per s {r['cpu_per_s']:.3f} vs "
                          f"{o['cpu_per_s']:.3f} ({r['cpu_per_s'] / max(o['cpu_per_s'], 1e-9):.2f}x), p99 "
                          f"{r['p99_ms']:.1f} vs {o['p99_ms']:.1f} ms, emulator CPU per s "
                          f"{r['emulator_cpu_per_s']:.3f} vs {o['emulator_cpu_per_s']:.3f}")
        for r in results:
            if r["mode"] != "one process" and r["sessions"] in fleet and r["tree"] == "current":
                f = fleet[r["sessions"]]
                print(f"- {r['sessions']} separate processes: peak RSS {r['rss_mib'] / f['rss_mib']:.1f}x, "
                      f"CPU {r['cpu_s'] / f['cpu_s']:.1f}x one process following {r['sessions']}")
        if mailbox_sizes:
            print(f"\n## Mailbox channel (session.read polling), one `atai tail` ({count} events per session at "
                  f"{args.rate:g}/s)\n", flush=True)
            print(HEADER, flush=True)
            for n in mailbox_sizes:
                for tree in rotated(trees, turn):
                    r = run_case(emu, MAILBOX_LENS, n, False, count, args.rate, tree)
                    r["mode"], r["label"] = "one process (read)", label(tree)
                    results.append(r)
                    print(row(r), flush=True)
                turn += 1
        odd = [r for r in results if r["exit_codes"] != [130]]
        for r in odd:
            print(f"\nwarning: {r['sessions']} sessions ({r['mode']}) exited {r['exit_codes']}: {r['errors']}")
    finally:
        emu.close()
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
