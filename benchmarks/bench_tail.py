"""Throughput, latency and memory of `atai tail` against the emulator, with references
measured in the same run (machines are noisy: compare ratios, not absolute numbers).

    python benchmarks/bench_tail.py                 # everything, default sizes
    python benchmarks/bench_tail.py --quick         # small sizes, for a smoke run

Throughput: events/s from input_stream.set to the reader's exit, on the emulator's fastest
stream (synthetic_reader, no pacing), for `curl -N` (the physical reference), a bare httpx-sse
loop, the official SDK's ServerSideEventsReader, and `atai tail --json`.
Latency: emitted_at (stamped by the emulator when it emits) to the line on atai's stdout,
SSE and read channels, at 50 events/s. Memory: peak RSS of `atai tail` over 50k and 500k events.

Firehose (issue 19): the worst case for a reader, from a tiny HTTP server in this process
(not the emulator): every SSE record in its own HTTP chunk (and a variant with 10 records per
chunk), 200,000 events sent as fast as the socket takes them. curl -N, the Python floor (the
least any Python reader that validates each event's JSON must do: clients.py), the bare
httpx-sse loop, the SDK reader and `atai tail SID --json` (a whole command, stdout to a file) run interleaved,
several rounds, medians; events/s from the server receiving the consumer GET to the reader's
exit. Then atai's event-to-stdout latency at 100 events/s (one event per chunk, stamped when
sent), and how long the last line of a burst takes to appear once the stream goes quiet.

    python benchmarks/bench_tail.py --only firehose    # just the firehose part (~3 min)
    python benchmarks/bench_tail.py --only firehose --baseline DIR   # and an older atai_cli in DIR
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
PY = sys.executable


class Emulator:
    def __init__(self, retention: int = 4096, connections: int = 100, tree: str | None = None) -> None:
        # tree: a directory whose atai_cli serves instead of this checkout's (run from inside
        # it, since `python -m` puts the working directory first on sys.path).
        env = None if tree is None else {**os.environ, "PYTHONPATH": tree}
        self.proc = subprocess.Popen(
            [PY, "-m", "atai_cli", "emulator", "--port", "0", "--idle-timeout", "0", "--start-delay", "0.01",
             "--retention", str(retention), "--output-interval", "0.01", "--model-latency", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=tree,
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


def reader_command(name: str, endpoint: str, key: str, session_id: str) -> list[str]:
    """The command line of one reader of `session_id`'s consumer; the key reaches the Python
    readers as BENCH_API_KEY (both servers' env() set it)."""
    url = f"{endpoint}/lens/sessions/consumer/{session_id}"
    if name == "curl -N":
        return ["curl", "-sN", "-H", f"Authorization: Bearer {key}", "-H", "Accept: text/event-stream", url]
    mode = {"httpx-sse loop": "httpx-sse", "SDK reader": "sdk", "Python floor": "floor"}.get(name)
    if mode:
        return [PY, str(HERE / "clients.py"), mode, url]
    return [PY, "-m", "atai_cli", "tail", session_id, "--json"]


DELIVERED: dict[str, int] = {}


def throughput(emu: Emulator, name: str, count: int) -> float:
    session_id = emu.session("lns-emulator-sse")
    with tempfile.TemporaryFile() as sink:
        proc = subprocess.Popen(reader_command(name, emu.endpoint, emu.key, session_id), stdout=sink, stderr=subprocess.DEVNULL, env=emu.env())
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
    proc = subprocess.Popen(reader_command("atai tail", emu.endpoint, emu.key, session_id), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=emu.env())
    emu.wait_reader(session_id, proc)
    emu.synthetic(session_id, count)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    emu.http.post("lens/sessions/destroy", json={"session_id": session_id})
    return usage.ru_maxrss / 1024  # KiB -> MiB


# -- the firehose: a tiny SSE server of the benchmark's own --------------------------------
FIREHOSE_KEY = "bench-firehose-key"
PAYLOAD = "x" * 64


def _record(seq: int, emitted_at: float = 0.0) -> bytes:
    data = json.dumps({"type": "inference.result", "event_data": {"seq": seq, "response": PAYLOAD,
                       "emitted_at": emitted_at}, "timestamp": emitted_at}, separators=(",", ":"))
    return f"id: {seq}\ndata: {data}\n\n".encode()


END_RECORD = b'data: {"type":"sse.stream.end"}\n\n'


def _chunk(body: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(body), body)


class Firehose:
    """An HTTP/1.1 server on 127.0.0.1 that answers what `atai tail` asks before it follows
    (session.status: RUNNING, with an SSE writer) and serves each session id's plan on its
    consumer URL, chunked, every chunk one record (or `per_chunk` records):

        fire-COUNT-PER_CHUNK   COUNT events as fast as the socket takes them, then the end
        paced-COUNT-RATE       one event per chunk at RATE/s, stamped when sent, then the end
        burst-BURSTS-SIZE      BURSTS bursts of SIZE events (one send each), 50 ms quiet between
    """

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}/v0.5"
        self.opened: dict[str, float] = {}  # session id -> perf_counter when its consumer GET arrived
        self._bodies: dict[tuple[int, int], bytes] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, session_id: str) -> str:
        return f"{self.endpoint}/lens/sessions/consumer/{session_id}"

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
        return {**env, "ATAI_API_ENDPOINT": self.endpoint, "ATAI_API_KEY": FIREHOSE_KEY, "BENCH_API_KEY": FIREHOSE_KEY}

    def _accept(self) -> None:
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = conn.makefile("rb")
        try:
            while True:
                request = reader.readline()
                if not request:
                    return
                method, path, _ = request.decode().split(" ", 2)
                length = 0
                while (header := reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.decode().partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = reader.read(length) if length else b""
                if method == "GET" and "/lens/sessions/consumer/" in path:
                    self._stream(conn, path.rsplit("/", 1)[1])
                    return
                session_id = json.loads(body or b"{}").get("session_id", "")
                reply = json.dumps({"session_id": session_id, "lens_id": "lns-firehose",
                                    "session_status": "LensSessionStatus.SESSION_STATUS_RUNNING",
                                    "lens_config": {"output_streams": [{"stream_type": "server_sent_events_writer"}]}}).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(reply), reply))
        except (OSError, ValueError):
            return
        finally:
            conn.close()

    def _body(self, count: int, per_chunk: int) -> bytes:
        with self._lock:
            if (count, per_chunk) not in self._bodies:
                records = [_record(i) for i in range(count)]
                chunks = [_chunk(b"".join(records[i:i + per_chunk])) for i in range(0, count, per_chunk)]
                self._bodies[(count, per_chunk)] = b"".join(chunks) + _chunk(END_RECORD) + b"0\r\n\r\n"
            return self._bodies[(count, per_chunk)]

    def _stream(self, conn, session_id: str) -> None:
        kind, first, second = session_id.split("-")
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        self.opened[session_id] = time.perf_counter()
        if kind == "fire":
            body = memoryview(self._body(int(first), int(second)))
            for start in range(0, len(body), 1 << 18):
                conn.sendall(body[start:start + (1 << 18)])
        elif kind == "paced":
            count, interval = int(first), 1.0 / float(second)
            next_at = time.perf_counter()
            for seq in range(count):
                conn.sendall(_chunk(_record(seq, time.time())))
                next_at += interval
                time.sleep(max(0.0, next_at - time.perf_counter()))
            conn.sendall(_chunk(END_RECORD) + b"0\r\n\r\n")
        else:
            bursts, size = int(first), int(second)
            for burst in range(bursts):
                now = time.time()
                conn.sendall(b"".join(_chunk(_record(burst * size + i, now)) for i in range(size)))
                time.sleep(0.05)  # quiet: every line of the burst must be out long before this ends
            conn.sendall(_chunk(END_RECORD) + b"0\r\n\r\n")
        conn.shutdown(socket.SHUT_WR)
        # Read until the client closes (so curl sees a clean end), but never block forever.
        conn.settimeout(5)
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass


FIREHOSE_CLIENTS = ["curl -N", "Python floor", "httpx-sse loop", "SDK reader", "atai tail"]
BASELINE = "atai tail (baseline)"
BASELINE_TREE: list[str] = []  # --baseline DIR: an older atai_cli, e.g. `git archive REV atai_cli | tar -x -C DIR`


def firehose_run(hose: Firehose, name: str, count: int, per_chunk: int) -> tuple[float, float]:
    """(events/s of wall time from the consumer GET to the exit, CPU seconds of the reader)."""
    session_id = f"fire-{count}-{per_chunk}"
    hose._body(count, per_chunk)  # built before the clock starts
    hose.opened.pop(session_id, None)
    with tempfile.TemporaryFile() as sink:
        # The baseline runs from its own tree (the current directory comes first on sys.path).
        cwd = BASELINE_TREE[0] if name == BASELINE else None
        proc = subprocess.Popen(reader_command(name, hose.endpoint, FIREHOSE_KEY, session_id), stdout=sink, stderr=subprocess.DEVNULL,
                                env=hose.env(), cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        end = time.perf_counter()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if session_id not in hose.opened:
            raise RuntimeError(f"{name} never opened the stream (exit {proc.returncode})")
        elapsed = end - hose.opened[session_id]
        if name != "curl -N":
            sink.seek(0)
            lines = sum(1 for _ in sink)
            key = f"{name} /{per_chunk}"
            if count:
                DELIVERED[key] = min(DELIVERED.get(key, lines), lines)
            if lines != count and name != "SDK reader":
                raise RuntimeError(f"{name} printed {lines} lines for {count} events")
    return count / elapsed, usage.ru_utime + usage.ru_stime


def _timed_lines(proc: subprocess.Popen) -> list[tuple[float, bytes]]:
    """Each stdout line with the wall time it could be read."""
    got = []
    readline = proc.stdout.readline
    while line := readline():
        got.append((time.time(), line))
    return got


def firehose_latency(hose: Firehose, count: int, rate: float) -> list[float]:
    session_id = f"paced-{count}-{rate:g}"
    proc = subprocess.Popen([PY, "-m", "atai_cli", "tail", session_id, "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=hose.env())
    lines = _timed_lines(proc)
    proc.wait(60)
    if len(lines) != count:
        raise RuntimeError(f"paced: {len(lines)} lines for {count} events")
    return [(t - json.loads(line)["event_data"]["emitted_at"]) * 1000 for t, line in lines]


def firehose_quiet(hose: Firehose, bursts: int, size: int) -> list[float]:
    """Per burst: the last line's arrival - the burst's send (ms)."""
    session_id = f"burst-{bursts}-{size}"
    proc = subprocess.Popen([PY, "-m", "atai_cli", "tail", session_id, "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=hose.env())
    lines = _timed_lines(proc)
    proc.wait(60)
    if len(lines) != bursts * size:
        raise RuntimeError(f"bursts: {len(lines)} lines for {bursts * size} events")
    delays = []
    for t, line in lines:
        data = json.loads(line)["event_data"]
        if data["seq"] % size == size - 1:
            delays.append((t - data["emitted_at"]) * 1000)
    return delays


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(len(values) * q)) - 1))]


def run_firehose(count: int, rounds: int, n_paced: int, n_bursts: int) -> None:
    hose = Firehose()
    clients = [c for c in FIREHOSE_CLIENTS if c != "curl -N" or shutil.which("curl")]
    try:
        import archetypeai._sse  # noqa: F401
    except ImportError:
        clients.remove("SDK reader")
    if BASELINE_TREE:
        clients.append(BASELINE)
    variants = (1, 10)
    rates = {(c, v): [] for c in clients for v in variants}
    cpu_rates = {(c, v): [] for c in clients for v in variants}
    for r in range(rounds):
        for name in clients[r % len(clients):] + clients[: r % len(clients)]:
            # Start-up and exit, measured each round: taken off the CPU time of the full runs.
            _, idle_cpu = firehose_run(hose, name, 0, 1)
            for per_chunk in variants:
                rate, cpu = firehose_run(hose, name, count, per_chunk)
                rates[(name, per_chunk)].append(rate)
                cpu_rates[(name, per_chunk)].append(count / max(cpu - idle_cpu, 1e-3))
    for per_chunk in variants:
        what = "one record per chunk" if per_chunk == 1 else f"{per_chunk} records per chunk"
        best = {c: statistics.median(rates[(c, per_chunk)]) for c in clients}
        cpu_best = {c: statistics.median(cpu_rates[(c, per_chunk)]) for c in clients}
        print(f"\n## Firehose, {what} ({count:,} events, median of {rounds} rounds, interleaved)\n")
        print("| reader | events/s (wall) | atai tail / reader | events per CPU-s | atai tail / reader (CPU) | "
              "lines printed (worst run) | rounds, events/s (wall) |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for name in clients:
            printed = DELIVERED.get(f"{name} /{per_chunk}")
            runs = ", ".join(f"{v:,.0f}" for v in rates[(name, per_chunk)])
            print(f"| {name} | {best[name]:,.0f} | {best['atai tail'] / best[name]:.2f}x | {cpu_best[name]:,.0f} | "
                  f"{cpu_best['atai tail'] / cpu_best[name]:.2f}x | "
                  f"{'(raw bytes)' if printed is None else f'{printed:,}'} | {runs} |")
    delays = firehose_latency(hose, n_paced, 100.0)
    quiet = firehose_quiet(hose, n_bursts, 100)
    quiet_small = firehose_quiet(hose, n_bursts, 10)
    print("\n## Firehose latency (atai tail --json, stdout a pipe)\n")
    print("| measured | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|")
    print(f"| send -> line on stdout, {n_paced} events at 100/s, one per chunk | {pct(delays, .5):.2f} | "
          f"{pct(delays, .99):.2f} | {max(delays):.2f} |")
    print(f"| burst sent -> its last line on stdout, {n_bursts} bursts of 100 then 50 ms quiet | {pct(quiet, .5):.2f} | "
          f"{pct(quiet, .99):.2f} | {max(quiet):.2f} |")
    print(f"| burst sent -> its last line on stdout, {n_bursts} bursts of 10 then 50 ms quiet | {pct(quiet_small, .5):.2f} | "
          f"{pct(quiet_small, .99):.2f} | {max(quiet_small):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--events", type=int, default=50_000, help="events per emulator throughput run")
    parser.add_argument("--firehose-events", type=int, default=200_000, help="events per firehose run")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (client order rotates)")
    parser.add_argument("--only", choices=("firehose", "emulator"), help="run one part only")
    parser.add_argument("--baseline", metavar="DIR", help="also run the atai_cli package in DIR (an older commit) on the firehose")
    args = parser.parse_args()
    if args.baseline:
        BASELINE_TREE.append(str(Path(args.baseline).resolve()))
    rounds = 1 if args.quick else args.rounds
    if args.only != "emulator":
        run_firehose(20_000 if args.quick else args.firehose_events, rounds,
                     n_paced=200 if args.quick else 1000, n_bursts=20 if args.quick else 60)
    if args.only != "firehose":
        run_emulator(5_000 if args.quick else args.events, rounds, args.quick)


def run_emulator(count: int, rounds: int, quick: bool) -> None:
    emu = Emulator()
    try:
        clients = ["curl -N", "httpx-sse loop", "SDK reader", "atai tail"]
        rates: dict[str, list[float]] = {c: [] for c in clients}
        for r in range(rounds):
            for name in clients[r % len(clients):] + clients[: r % len(clients)]:
                rates[name].append(throughput(emu, name, count))
        best = {c: statistics.median(v) for c, v in rates.items()}
        print(f"\n## Emulator throughput ({count:,} events, median of {rounds} rounds)\n")
        print("| reader | events/s off the wire | atai tail / reader | lines printed (worst run) |")
        print("|---|---:|---:|---:|")
        for name in clients:
            printed = f"{DELIVERED[name]:,}" if name in DELIVERED else "(raw bytes)"
            print(f"| {name} | {best[name]:,.0f} | {best['atai tail'] / best[name]:.2f}x | {printed} |")

        n_lat = 100 if quick else 300
        print(f"\n## Latency, emulator emit -> line on stdout ({n_lat} events at 50/s)\n")
        print("| channel | p50 ms | p99 ms |")
        print("|---|---:|---:|")
        for lens in ("lns-emulator-sse", "lns-emulator-mailbox"):
            p50, p99, channel = latency(emu, lens, n_lat, 50.0)
            print(f"| {channel} | {p50:.1f} | {p99:.1f} |")

        sizes = (5_000, 50_000) if quick else (50_000, 500_000)
        small, large = (peak_memory(emu, n) for n in sizes)
        print("\n## Peak memory of atai tail\n")
        print(f"| events | peak RSS MiB |\n|---:|---:|\n| {sizes[0]:,} | {small:.1f} |\n| {sizes[1]:,} | {large:.1f} |")
        print(f"\n{sizes[1]:,} vs {sizes[0]:,}: {large / small:.3f}x")
    finally:
        emu.close()

if __name__ == "__main__":
    main()
