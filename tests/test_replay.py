"""Replaying recordings (issue 12, the emulator half): `atai emulator --replay FILE` serves what
`atai tail --record` wrote as live sessions, on real loopback sockets."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from atai_cli.emulator.catalog import MAILBOX_LENS_ID, SSE_LENS_ID
from atai_cli.emulator.server import EmulatorServer
from atai_cli.emulator.tuning import EmulatorConfig
from atai_cli.errors import UsageError
from atai_cli.protocol.recording_format import RecordingError, read_recording, replay_lens_id
from conftest import FAST, SAMPLE_CSV, Emu, atai_process, run_cli

CSV_INPUT = {"stream_type": "csv_file_reader", "stream_config": {"file_id": "sample.csv"}}
HEADER = {"atai_recording": 1, "created_at": "2025-01-01T00:00:00.000Z", "sessions": {"lsn-rec": {"lens_id": SSE_LENS_ID, "channel": "sse"}}}


# -- helpers ------------------------------------------------------------------------------
@contextlib.contextmanager
def replaying(*paths, **config):
    """An emulator of its own serving these recordings, FAST timings unless overridden."""
    server = EmulatorServer(config=EmulatorConfig(**{**FAST, **config}), replay=list(paths)).start()
    helper = Emu(server)
    try:
        yield helper
    finally:
        helper.admin.close()
        server.stop()


@pytest.fixture(autouse=True)
def own_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def on(server: Emu, *args: str):
    """The real CLI, in-process, pointed at that emulator."""
    return run_cli(*args, env={"ATAI_API_ENDPOINT": server.endpoint, "ATAI_API_KEY": server.api_key,
                               "ATAI_RETRY_DELAY": "0.01", "ATAI_RECONNECT_DELAY": "0.01"})


def metas(result) -> list[dict]:
    return [json.loads(line) for line in result.lines]


def essence(events: list[dict]) -> list[tuple]:
    return [(e["id"], e["event"], e["data"]) for e in events]


def write_recording(path: Path, times: list[float], header: dict = HEADER) -> Path:
    lines = [json.dumps(header)] + [
        json.dumps({"t": t, "session_id": "lsn-rec", "id": str(n), "event": "message", "channel": "sse",
                    "data": {"type": "inference.result", "event_data": {"response": [f"event {n}"], "seq": n}}})
        for n, t in enumerate(times, 1)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def record_sse(emu, path: Path, **faults) -> list[dict]:
    """Record a csv session of the shared emulator; what `atai tail --meta` printed."""
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    emu.configure(idle_timeout_s=0.5, **faults)
    sid = emu.running_session(SSE_LENS_ID)
    emu.set_input_later(sid, CSV_INPUT)
    result = run_cli("tail", sid, "--record", str(path), "--meta")
    assert result.exit_code == 0, result.stderr
    return metas(result)


def emulator_process(*args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATAI_")}
    return subprocess.Popen([sys.executable, "-m", "atai_cli", "emulator", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


# -- naming and the lens ------------------------------------------------------------------
def test_the_lens_is_named_after_the_file():
    assert replay_lens_id(Path("/x/rec.jsonl")) == "lns-replay-rec"
    assert replay_lens_id(Path("night shift.v2.jsonl")) == "lns-replay-night-shift-v2"
    assert replay_lens_id(Path("Run_7")) == "lns-replay-Run-7"


def test_the_lens_says_which_channel_it_uses(tmp_path):
    sse = write_recording(tmp_path / "sse.jsonl", [0.0, 0.1])
    mail = tmp_path / "mail.jsonl"
    mail.write_text(json.dumps({**HEADER, "sessions": {"lsn-m": {"lens_id": MAILBOX_LENS_ID, "channel": "read"}}}) + "\n"
                    + json.dumps({"t": 0.0, "session_id": "lsn-m", "id": None, "event": "inference.result", "channel": "read",
                                  "data": {"timestamp": 1.0, "type": "inference.result", "data": {"n": 1}}}) + "\n")
    with replaying(sse, mail) as server:
        lenses = {lens["lens_id"]: lens for lens in server.admin.get("/v0.5/lens/metadata").json()}
        assert lenses["lns-replay-sse"]["lens_config"]["output_streams"][0]["stream_type"] == "server_sent_events_writer"
        assert "output_streams" not in lenses["lns-replay-mail"]["lens_config"]
        assert lenses["lns-replay-sse"]["replay"]["events"] == 2 and lenses["lns-replay-sse"]["replay"]["ids"] == "recorded"
        listed = on(server, "lens", "list", "--json")
        assert listed.exit_code == 0 and "lns-replay-sse" in listed.stdout
        # a replay's output is the recording: it takes no input
        sid = server.running_session("lns-replay-sse")
        with server.api() as api:
            reply = api.session_event(sid, "input_stream.set", CSV_INPUT)
        assert reply["event_data"]["is_valid"] is False and "replays a recording" in reply["event_data"]["error_messages"][0]


def test_two_recordings_cannot_share_a_name(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_recording(tmp_path / "a" / "rec.jsonl", [0.0])
    second = write_recording(tmp_path / "b" / "rec.jsonl", [0.0])
    with pytest.raises(UsageError, match="both be the lens lns-replay-rec"):
        EmulatorServer(replay=[first, second])


# -- SSE ----------------------------------------------------------------------------------
def test_an_sse_recording_with_drops_replays_with_its_ids(emu, tmp_path):
    path = tmp_path / "drops.jsonl"
    original = record_sse(emu, path, drop_every=2, drop_partial=True)
    assert [e["id"] for e in original] == ["1", "2", "3", "4", "5", "6"]
    with replaying(path) as server:
        sid = server.running_session("lns-replay-drops")
        replayed = on(server, "tail", sid, "--meta")
        assert replayed.exit_code == 0, replayed.stderr
        assert essence(metas(replayed)) == essence(original)
        # a second session replays it again, from the start
        again = on(server, "tail", server.running_session("lns-replay-drops"), "--meta")
        assert essence(metas(again)) == essence(original)


def test_resume_inside_a_replay(tmp_path):
    path = write_recording(tmp_path / "rec.jsonl", [0.0, 0.05, 0.1, 0.15, 0.2, 0.25])
    with replaying(path) as server:
        sid = server.running_session("lns-replay-rec")
        resumed = on(server, "tail", sid, "--since", "3", "--meta")
        assert resumed.exit_code == 0, resumed.stderr
        assert [e["id"] for e in metas(resumed)] == ["4", "5", "6"]
        # and once it has played, Last-Event-ID replays what is retained after that id
        later = on(server, "tail", sid, "--since", "5", "--meta")
        assert [e["id"] for e in metas(later)] == ["6"]


def test_a_consumer_before_running_waits_for_the_start(tmp_path):
    """The replay starts when the session is RUNNING and its first consumer connected, in
    whichever order those happen (the SDK opens the consumer straight after create)."""
    path = write_recording(tmp_path / "rec.jsonl", [0.0, 0.05, 0.1])
    with replaying(path, start_delay_s=0.3) as server:
        with server.api() as api:
            sid = api.create_session("lns-replay-rec")["session_id"]
        assert server.session(sid).status == "SESSION_STATUS_REGISTERED"
        frames = []
        url = f"{server.endpoint}/lens/sessions/consumer/{sid}"
        with httpx.stream("GET", url, headers={"Authorization": f"Bearer {server.api_key}"}, timeout=10) as response:
            for line in response.iter_lines():
                if line.startswith(("id:", "data:")):
                    frames.append(line)
                if '"sse.stream.end"' in line:
                    break
        assert server.session(sid).status == "SESSION_STATUS_RUNNING"
        ids = [f.split(": ", 1)[1] for f in frames if f.startswith("id:")]
        assert ids == ["1", "2", "3"]
        assert frames[frames.index("id: 1") + 1] == 'data: {"type":"inference.result","event_data":{"response":["event 1"],"seq":1}}'


def test_recorded_ids_that_skip_numbers_are_kept(tmp_path):
    path = tmp_path / "gaps.jsonl"
    lines = [json.dumps(HEADER)] + [
        json.dumps({"t": n / 100, "session_id": "lsn-rec", "id": str(i), "event": "message", "channel": "sse",
                    "data": {"type": "inference.result", "event_data": {"i": i}}})
        for n, i in enumerate([57, 58, 60, 75])
    ]
    path.write_text("\n".join(lines) + "\n")
    with replaying(path, drop_every=1) as server:
        sid = server.running_session("lns-replay-gaps")
        assert [e["id"] for e in metas(on(server, "tail", sid, "--meta"))] == ["57", "58", "60", "75"]
        assert [e["id"] for e in metas(on(server, "tail", sid, "--since", "58", "--meta"))] == ["60", "75"]


def test_replay_through_faults_prints_every_event_once(emu, tmp_path):
    path = tmp_path / "rec.jsonl"
    original = record_sse(emu, path)
    with replaying(path, drop_every=2, drop_partial=True) as server:
        sid = server.running_session("lns-replay-rec")
        server.configure(fail_count=2, fail_status=503, fail_path="consumer")
        replayed = on(server, "tail", sid, "--meta")
        assert replayed.exit_code == 0, replayed.stderr
        assert essence(metas(replayed)) == essence(original)
        assert server.server.state.sse_connections >= 3  # it really was dropped along the way


def test_a_silent_connection_during_a_replay_is_resumed(tmp_path):
    path = write_recording(tmp_path / "rec.jsonl", [0.0, 0.05, 0.1, 0.15])
    with replaying(path, silence_after=2) as server:
        sid = server.running_session("lns-replay-rec")
        replayed = on(server, "tail", sid, "--meta", "--heartbeat", "0.2")
        assert replayed.exit_code == 0, replayed.stderr
        assert [e["id"] for e in metas(replayed)] == ["1", "2", "3", "4"]


def test_several_sessions_replay_on_one_in_time_order_with_their_ids(emu, tmp_path):
    emu.configure(idle_timeout_s=0)
    sessions = [emu.running_session(SSE_LENS_ID) for _ in range(2)]
    with emu.api() as api:
        for sid in sessions:
            api.session_event(sid, "input_stream.set", {"stream_type": "synthetic_reader",
                                                        "stream_config": {"count": 3, "rate_hz": 50, "end": True}})
    path = tmp_path / "fleet.jsonl"
    recorded = run_cli("tail", *sessions, "--record", str(path))
    assert recorded.exit_code == 0, recorded.stderr
    recording = read_recording(path)
    assert sorted(e.id for e in recording.events) == ["1", "1", "2", "2", "3", "3"]  # the ids collide
    with replaying(path, replay_speed=0) as server:
        lens = server.admin.get("/v0.5/lens/metadata", params={"lens_id": "lns-replay-fleet"}).json()[0]
        # contract v3: --replay keeps every recorded id as it was recorded, even when they collide
        assert lens["replay"]["ids"] == "recorded" and set(lens["replay"]["sessions"]) == set(sessions)
        replayed = metas(on(server, "tail", server.running_session("lns-replay-fleet"), "--meta"))
        assert [e["id"] for e in replayed] == [e.id for e in recording.events]
        assert [e["data"] for e in replayed] == [e.data for e in recording.events]


def test_replay_speed(tmp_path):
    times = [0.0, 0.5, 1.0, 1.5]
    path = write_recording(tmp_path / "slow.jsonl", times)
    span = times[-1] - times[0]
    with replaying(path, replay_speed=0) as server:
        sid = server.running_session("lns-replay-slow")
        started = time.monotonic()
        fast = on(server, "tail", sid)
        fast_took = time.monotonic() - started
        assert fast.exit_code == 0 and len(fast.lines) == 4

        server.configure(replay_speed=1)
        sid = server.running_session("lns-replay-slow")
        started = time.monotonic()
        slow = on(server, "tail", sid, "--envelope", "--meta")
        slow_took = time.monotonic() - started
        assert slow.exit_code == 0, slow.stderr
        assert slow_took >= 0.8 * span, slow_took
        # Against the slow run, not the clock: both pay the same start-up, however loaded the machine.
        assert slow_took - fast_took >= 0.7 * span, (fast_took, slow_took)
        types = [e["type"] for e in metas(slow)]
        assert types.count("inference.result") == 4 and types[-1] == "sse.stream.end"
        assert types.count("sse.stream.heartbeat") >= 2  # heartbeats while it waits between events


def test_the_idle_timeout_applies_during_a_long_gap(tmp_path):
    """The idle timeout ends a stream during a long gap, as on any session; --since resumes."""
    path = write_recording(tmp_path / "gap.jsonl", [0.0, 10.0])
    with replaying(path, replay_speed=10, idle_timeout_s=0.3) as server:
        sid = server.running_session("lns-replay-gap")
        first = on(server, "tail", sid, "--meta")
        assert [e["id"] for e in metas(first)] == ["1"]  # sse.stream.end after 0.3 s of the 1 s gap
        server.wait_for(lambda: server.session(sid).outputs.last_id == 2)
        rest = on(server, "tail", sid, "--since", "1", "--meta")
        assert [e["id"] for e in metas(rest)] == ["2"]


# -- mailbox ------------------------------------------------------------------------------
def test_a_mailbox_recording_replays_in_the_mailbox(emu, tmp_path):
    sid = emu.running_session(MAILBOX_LENS_ID)
    with emu.api() as api:
        for n in range(3):
            api.session_event(sid, "session.update", {"type": "data.json", "event_data": {"sensor_data": [[n]]}})
    path = tmp_path / "mail.jsonl"
    original = run_cli("tail", sid, "--record", str(path), "--meta", "--client-id", "rec", "--max-events", "3")
    assert original.exit_code == 0, original.stderr
    with replaying(path) as server:
        replay_sid = server.running_session("lns-replay-mail")
        assert server.session(replay_sid).mail == []  # nothing until the first read
        replayed = on(server, "tail", replay_sid, "--meta", "--max-events", "3")
        assert replayed.exit_code == 0, replayed.stderr
        assert [e["channel"] for e in metas(replayed)] == ["read"] * 3
        assert essence(metas(replayed)) == essence(metas(original))


def test_a_mailbox_replay_keeps_its_gaps(tmp_path):
    path = tmp_path / "mail.jsonl"
    header = {**HEADER, "sessions": {"lsn-m": {"lens_id": MAILBOX_LENS_ID, "channel": "read"}}}
    lines = [json.dumps(header)] + [
        json.dumps({"t": t, "session_id": "lsn-m", "id": None, "event": "inference.result", "channel": "read",
                    "data": {"timestamp": 1700000000.0 + t, "type": "inference.result", "data": {"n": n}}})
        for n, t in enumerate([0.0, 0.6, 1.2])
    ]
    path.write_text("\n".join(lines) + "\n")
    with replaying(path) as server:
        sid = server.running_session("lns-replay-mail")
        started = time.monotonic()
        replayed = on(server, "tail", sid, "--max-events", "3")
        took = time.monotonic() - started
        assert [json.loads(line)["data"]["n"] for line in replayed.lines] == [0, 1, 2]
        assert took >= 0.8 * 1.2, took


# -- bad recordings -----------------------------------------------------------------------
@pytest.mark.parametrize("lines, line, what", [
    ([{"t": 0, "session_id": "s", "id": "1", "event": "message", "channel": "sse", "data": {}}], 1, "not an atai recording"),
    ([HEADER, {"t": 0, "session_id": "s", "id": "1", "event": "message", "channel": "sse", "data": {}}, "{not json"], 3, "not JSON"),
    ([HEADER, {"t": 0.5, "id": "1", "event": "message", "channel": "sse", "data": {}}], 2, "session_id"),
])
def test_a_bad_recording_is_refused_with_its_line(tmp_path, lines, line, what):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    process = emulator_process("--replay", str(path))
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 2, stderr
    assert stdout == ""  # refused before it announced (or bound) anything
    first = stderr.splitlines()[0]
    assert f"{path}:{line}" in first and what in first
    assert "Traceback" not in stderr
    with pytest.raises(RecordingError, match=f":{line}: "):
        EmulatorServer(replay=[path])


# -- the round trip, as a user does it -----------------------------------------------------
def test_record_a_run_then_replay_it_offline(emu, tmp_path):
    emu.configure(idle_timeout_s=0.5)
    rec = tmp_path / "rec.jsonl"
    run = atai_process(emu, "run", SSE_LENS_ID, "--csv", str(SAMPLE_CSV), "--record", str(rec), cwd=tmp_path)
    out1, err1 = run.communicate(timeout=60)
    assert run.returncode == 0, err1
    assert len(out1.splitlines()) == 6

    emulator = emulator_process("--replay", str(rec))
    try:
        endpoint = emulator.stdout.readline().strip().split("=", 1)[1]
        key = emulator.stdout.readline().strip().split("=", 1)[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATAI_")}
        env.update(ATAI_API_ENDPOINT=endpoint, ATAI_API_KEY=key, PYTHONUNBUFFERED="1")
        create = subprocess.run([sys.executable, "-m", "atai_cli", "session", "create", "lns-replay-rec", "-q"],
                                env=env, capture_output=True, text=True, timeout=60)
        assert create.returncode == 0, create.stderr
        sid = create.stdout.strip()
        tail = subprocess.run([sys.executable, "-m", "atai_cli", "tail", sid], env=env, capture_output=True, text=True, timeout=60)
        assert tail.returncode == 0, tail.stderr
        out2 = tail.stdout
    finally:
        emulator.terminate()
        emulator.wait(10)
    assert out1 and out2 == out1  # `diff out1 out2` is empty
