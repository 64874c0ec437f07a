"""Throughput, latency and memory of `atai tail` against the emulator, with references
measured in the same run (machines are noisy: compare ratios, not absolute numbers).

    python benchmarks/bench_tail.py                 # everything, default sizes
    python benchmarks/bench_tail.py --quick         # small sizes, for a smoke run

Throughput: events/s from input_stream.set to the reader's exit, on the emulator's fastest
stream (synthetic_reader, no pacing), for `curl -N` (the physical reference), a bare httpx-sse
loop, the official SDK's ServerSideEventsReader, and `atai tail --json`.
Latency: emitted_at (stamped by the emulator when it emits) to the line on atai's stdout,
SSE and read channels, at 50 events/s. Memory: peak RSS of `atai tail` over 50k and 500k events.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
PY = sys.executable


class Emulator:
    def __init__(self, retention: int = 4096, connections: int = 100) -> None:
        self.proc = subprocess.Popen(
            [PY, "-m", "atai_cli", "emulator", "--port", "0", "--idle-timeout", "0", "--start-delay", "0.01",
             "--retention", str(retention), "--output-interval", "0.01", "--model-latency", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.endpoint = self.proc.stdout.readline().strip().split("=", 1)[1]
        self.key = self.proc.stdout.readline().strip().split("=", 1)[1]
        self.root = self.endpoint.rsplit("/v0.5", 1)[0]
        self.http = httpx.Client(base_url=self.endpoint + "/", headers={"Authorization": f"Bearer {self.key}"}, timeout=60,
                                 limits=httpx.Limits(max_connections=connections))
        for _ in range(200):
            try:
                self.http.get("lens/metadata")
                break
            except httpx.TransportError:
                time.sleep(0.05)

    def env(self) -> dict:
        # As a user's shell has it: PYTHONUNBUFFERED (set in some CI environments) makes every
        # reader write once per line, which is not what is being compared.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
        return {**env, "ATAI_API_ENDPOINT": self.endpoint, "ATAI_API_KEY": self.key, "BENCH_API_KEY": self.key}

    def event(self, session_id: str, kind: str, data=None) -> dict:
        body = {"session_id": session_id, "event": {"type": kind, **({"event_data": data} if data else {})}}
        return self.http.post("lens/sessions/events/process", json=body).json()

    def session(self, lens_id: str) -> str:
        session_id = self.http.post("lens/sessions/create", json={"lens_id": lens_id}).json()["session_id"]
        while not self.event(session_id, "session.status")["session_status"].endswith("RUNNING"):
            time.sleep(0.01)
        return session_id

    def wait_reader(self, session_id: str, proc: subprocess.Popen) -> None:
        deadline = time.monotonic() + 60
        while self.http.get(f"{self.root}/_emulator/sessions/{session_id}").json()["sse_readers"] < 1:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"reader did not connect: {proc.args}")
            time.sleep(0.005)

    def synthetic(self, session_id: str, count: int, rate_hz: float = 0.0) -> None:
        reply = self.event(session_id, "input_stream.set", {"stream_type": "synthetic_reader", "stream_config": {
            "count": count, "payload_bytes": 64, "rate_hz": rate_hz, "end": True}})
        assert reply["event_data"]["is_valid"], reply

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def client_command(name: str, emu: Emulator, session_id: str) -> list[str]:
    url = f"{emu.endpoint}/lens/sessions/consumer/{session_id}"
    if name == "curl -N":
        return ["curl", "-sN", "-H", f"Authorization: Bearer {emu.key}", "-H", "Accept: text/event-stream", url]
    if name == "httpx-sse loop":
        return [PY, str(HERE / "clients.py"), "httpx-sse", url]
    if name == "SDK reader":
        return [PY, str(HERE / "clients.py"), "sdk", url]
    return [PY, "-m", "atai_cli", "tail", session_id, "--json"]


DELIVERED: dict[str, int] = {}


def throughput(emu: Emulator, name: str, count: int) -> float:
    session_id = emu.session("lns-emulator-sse")
    with tempfile.TemporaryFile() as sink:
        proc = subprocess.Popen(client_command(name, emu, session_id), stdout=sink, stderr=subprocess.DEVNULL, env=emu.env())
        emu.wait_reader(session_id, proc)
        start = time.perf_counter()
        emu.synthetic(session_id, count)
        proc.wait(600)
        elapsed = time.perf_counter() - start
        if name != "curl -N":
            sink.seek(0)
            lines = sum(1 for _ in sink)
            DELIVERED[name] = min(DELIVERED.get(name, lines), lines)
            # The SDK's blocking read drops what is queued at sse.stream.end (lens-api.md 6.1.8).
            if lines != count and name != "SDK reader":
                raise RuntimeError(f"{name} printed {lines} lines for {count} events")
    emu.http.post("lens/sessions/destroy", json={"session_id": session_id})
    return count / elapsed


def latency(emu: Emulator, lens_id: str, count: int, rate: float) -> tuple[float, float, str]:
    session_id = emu.session(lens_id)
    proc = subprocess.Popen([PY, "-m", "atai_cli", "tail", session_id, "--json", "--max-events", str(count)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=emu.env())
    if lens_id == "lns-emulator-sse":
        emu.wait_reader(session_id, proc)
    else:
        time.sleep(1.0)  # the read channel has no reader to wait for; let the tail start
    emu.synthetic(session_id, count, rate_hz=rate)
    delays = []
    for line in proc.stdout:
        now = time.time()
        event = json.loads(line)
        data = event.get("event_data") or event.get("data")
        delays.append((now - data["emitted_at"]) * 1000)
    proc.wait(60)
    channel = proc.stderr.read().split("on the ", 1)[1].split(" channel", 1)[0]
    emu.http.post("lens/sessions/destroy", json={"session_id": session_id})
    delays.sort()
    return statistics.median(delays), delays[int(len(delays) * 0.99) - 1], channel


def peak_memory(emu: Emulator, count: int) -> float:
    session_id = emu.session("lns-emulator-sse")
    proc = subprocess.Popen(client_command("atai tail", emu, session_id), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=emu.env())
    emu.wait_reader(session_id, proc)
    emu.synthetic(session_id, count)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    emu.http.post("lens/sessions/destroy", json={"session_id": session_id})
    return usage.ru_maxrss / 1024  # KiB -> MiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--events", type=int, default=50_000, help="events per throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (client order rotates)")
    args = parser.parse_args()
    count = 5_000 if args.quick else args.events
    rounds = 1 if args.quick else args.rounds
    emu = Emulator()
    try:
        clients = ["curl -N", "httpx-sse loop", "SDK reader", "atai tail"]
        rates: dict[str, list[float]] = {c: [] for c in clients}
        for r in range(rounds):
            for name in clients[r % len(clients):] + clients[: r % len(clients)]:
                rates[name].append(throughput(emu, name, count))
        best = {c: statistics.median(v) for c, v in rates.items()}
        print(f"## Throughput ({count:,} events, median of {rounds} rounds)\n")
        print("| reader | events/s off the wire | atai tail / reader | lines printed (worst run) |")
        print("|---|---:|---:|---:|")
        for name in clients:
            printed = f"{DELIVERED[name]:,}" if name in DELIVERED else "(raw bytes)"
            print(f"| {name} | {best[name]:,.0f} | {best['atai tail'] / best[name]:.2f}x | {printed} |")

        n_lat = 100 if args.quick else 300
        print(f"\n## Latency, emulator emit -> line on stdout ({n_lat} events at 50/s)\n")
        print("| channel | p50 ms | p99 ms |")
        print("|---|---:|---:|")
        for lens in ("lns-emulator-sse", "lns-emulator-mailbox"):
            p50, p99, channel = latency(emu, lens, n_lat, 50.0)
            print(f"| {channel} | {p50:.1f} | {p99:.1f} |")

        sizes = (5_000, 50_000) if args.quick else (50_000, 500_000)
        small, large = (peak_memory(emu, n) for n in sizes)
        print("\n## Peak memory of atai tail\n")
        print(f"| events | peak RSS MiB |\n|---:|---:|\n| {sizes[0]:,} | {small:.1f} |\n| {sizes[1]:,} | {large:.1f} |")
        print(f"\n{sizes[1]:,} vs {sizes[0]:,}: {large / small:.3f}x")
    finally:
        emu.close()


if __name__ == "__main__":
    main()
