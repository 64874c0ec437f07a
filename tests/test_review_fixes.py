"""What a review of the whole change found, each reproduced: cursors that must not move past
what was not handed on, stops that must save, server data that must not crash or stall."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from atai_cli.client.forwarder import check_forward_url, header_value
from atai_cli.client.sse_decoder import EventStreamDecoder, StreamTooLarge
from atai_cli.emulator.catalog import MAILBOX_LENS_ID, SSE_LENS_ID
from atai_cli.errors import UsageError
from atai_cli.pipeline.cursors import Cursor, CursorStore
from atai_cli.protocol.recording_format import read_recording
from conftest import SAMPLE_CSV, atai_process, run_cli, saved_cursors, subprocess_env
from receiver import Receiver, free_port

CSV_INPUT = {"stream_type": "csv_file_reader", "stream_config": {"file_id": "sample.csv"}}


def push(emu, session_id, values):
    with emu.api() as api:
        for value in values:
            api.session_event(session_id, "session.update", {"type": "data.json", "event_data": {"sensor_data": [[value]]}})


def means(line: dict) -> float:
    return line["data"]["data"]["channel_means"][0]


def test_idle_exit_does_not_count_while_a_receiver_holds_an_event(emu, tmp_path):
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    emu.configure(idle_timeout_s=0)
    port = free_port()
    import threading

    def come_back_later() -> None:
        time.sleep(2.5)  # longer than --idle-exit: the receiver is down all that time
        with Receiver(port=port) as receiver:
            box["receiver"] = receiver
            done.wait(30)

    box, done = {}, threading.Event()
    threading.Thread(target=come_back_later, daemon=True).start()
    result = run_cli("run", SSE_LENS_ID, "--csv", str(SAMPLE_CSV), "--forward-to", f"http://127.0.0.1:{port}/",
                     "--forward-secret", "s", "--idle-exit", "1")
    delivered = [r.headers["Atai-Event-Id"] for r in box["receiver"].delivered()]
    done.set()
    assert result.exit_code == 0, result.stderr
    assert delivered == ["1", "2", "3", "4", "5", "6"]
    assert "6 delivered" in result.stderr


def test_max_events_across_sessions_never_moves_a_cursor_past_what_was_not_printed(emu, tmp_path):
    a, b = emu.running_session(MAILBOX_LENS_ID), emu.running_session(MAILBOX_LENS_ID)
    push(emu, a, range(6))
    push(emu, b, range(10, 16))
    cursor = tmp_path / "c.json"
    first = run_cli("tail", a, b, "--max-events", "3", "--cursor-file", str(cursor))
    assert first.exit_code == 0, first.stderr
    second = run_cli("tail", a, b, "--cursor-file", str(cursor), "--idle-exit", "1")
    assert second.exit_code == 0, second.stderr
    seen = Counter((line["session_id"], means(line)) for line in map(json.loads, first.lines + second.lines))
    assert seen == Counter({**{(a, float(n)): 1 for n in range(6)}, **{(b, float(n)): 1 for n in range(10, 16)}})


def test_a_mailbox_tail_killed_mid_stream_resumes_losing_nothing(emu, tmp_path):
    emu.configure(idle_timeout_s=0)
    sid = emu.running_session(MAILBOX_LENS_ID)
    cursor = tmp_path / "c.json"
    tail = atai_process(emu, "tail", sid, "--cursor-file", str(cursor))
    with emu.api() as api:
        api.session_event(sid, "input_stream.set", {"stream_type": "synthetic_reader", "stream_config": {"count": 80, "rate_hz": 40}})
    seen = [json.loads(tail.stdout.readline()) for _ in range(30)]
    emu.wait_for(lambda: sid in saved_cursors(cursor), timeout=30)  # killed after a save while events flow
    tail.send_signal(signal.SIGKILL)
    tail.wait(timeout=30)
    seen += [json.loads(line) for line in tail.stdout.read().splitlines() if line.strip()]
    assert json.loads(cursor.read_text())[sid]["clean"] is False
    emu.wait_for(lambda: emu.session(sid).num_outputs >= 80, timeout=30)
    again = atai_process(emu, "tail", sid, "--cursor-file", str(cursor), "--idle-exit", "1")
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    seqs = {line["data"]["seq"] for line in seen} | {json.loads(line)["data"]["seq"] for line in out.splitlines()}
    assert seqs == set(range(80))


def test_a_clean_mailbox_stop_resumes_with_the_same_client_id():
    # read_offset became last_event_id: a mailbox event's id is its position (contract v3)
    assert Cursor("read", "7", "cid", server_offset=7, clean=True).resume() == (None, "cid", 7, 7)
    since, client_id, offset, skip = Cursor("read", "7", "cid", server_offset=7, clean=False).resume()
    assert client_id != "cid" and (offset, skip) == (0, 7)
    since, client_id, offset, skip = Cursor("read", "5", "cid", server_offset=9, clean=True).resume()
    assert client_id != "cid" and (offset, skip) == (0, 5)


def test_a_cursor_is_saved_only_past_lines_out_of_the_buffer(tmp_path):
    store = CursorStore(tmp_path / "c.json")
    store.auto_commit = False
    store.start("lsn-1", "sse", None, None)
    store.advance("lsn-1", "5")
    store.save()
    assert json.loads((tmp_path / "c.json").read_text())["lsn-1"]["last_event_id"] is None
    store.commit()
    store.save()
    assert json.loads((tmp_path / "c.json").read_text())["lsn-1"]["last_event_id"] == "5"


def test_without_a_cursor_file_it_says_what_a_mailbox_read_left_unprinted(emu):
    sid = emu.running_session(MAILBOX_LENS_ID)
    push(emu, sid, range(6))
    result = run_cli("tail", sid, "--max-events", "2", "--client-id", "partial")
    assert result.exit_code == 0 and len(result.lines) == 2
    assert "4 mailbox messages read but not printed" in result.stderr


def test_ctrl_c_at_the_terminal_waits_for_the_exec_command_then_terminates_it(emu, tmp_path):
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    emu.configure(idle_timeout_s=0)
    sid = emu.running_session(SSE_LENS_ID)
    cursor, pidfile = tmp_path / "c.json", tmp_path / "child.pid"
    env = subprocess_env(emu, XDG_CONFIG_HOME=str(tmp_path))
    tail = subprocess.Popen([sys.executable, "-m", "atai_cli", "tail", sid, "--cursor-file", str(cursor), "--exec",
                             f"echo $$ > {pidfile}; sleep 60"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    emu.wait_for_reader(sid)
    with emu.api() as api:
        api.session_event(sid, "input_stream.set", CSV_INPUT)
    emu.wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), timeout=30)
    os.killpg(tail.pid, signal.SIGINT)  # what Ctrl-C at the terminal does: the whole group
    assert tail.wait(timeout=30) == 130
    stderr = tail.stderr.read()
    assert "exec terminated at exit" in stderr and "exited -2" not in stderr
    assert json.loads(cursor.read_text())[sid]["last_event_id"] is None  # the first event was not handled


def test_appending_to_a_recording_keeps_its_clock_going(emu, tmp_path):
    sid = emu.running_session(MAILBOX_LENS_ID)
    push(emu, sid, [1, 2])
    path = tmp_path / "rec.jsonl"
    assert run_cli("tail", sid, "--record", str(path), "--max-events", "2", "--client-id", "one").exit_code == 0
    push(emu, sid, [3])
    appended = run_cli("tail", sid, "--record", str(path), "--record-append", "--max-events", "3", "--client-id", "two")
    assert appended.exit_code == 0, appended.stderr
    recording = read_recording(path)  # would refuse a t that goes back in time
    assert len(recording.events) == 5


def test_a_recording_of_another_lens_is_refused_before_anything_starts(emu, tmp_path):
    sid = emu.running_session(MAILBOX_LENS_ID)
    path = tmp_path / "rec.jsonl"
    path.write_text(json.dumps({"atai_recording": 1, "created_at": "2026-12-01T00:00:00Z",
                                "sessions": {sid: {"lens_id": "lns-other", "channel": "read"}}}) + "\n")
    result = run_cli("tail", sid, "--record", str(path), "--record-append")
    assert result.exit_code == 2 and "was recorded on lns-other" in result.stderr


def test_sigterm_stops_like_ctrl_c_and_saves(emu, tmp_path):
    emu.configure(idle_timeout_s=0)
    sid = emu.running_session(SSE_LENS_ID)
    cursor = tmp_path / "c.json"
    tail = atai_process(emu, "tail", sid, "--cursor-file", str(cursor))
    emu.wait_for_reader(sid)
    with emu.api() as api:
        api.session_event(sid, "input_stream.set", {"stream_type": "synthetic_reader", "stream_config": {"count": 100, "rate_hz": 50}})
    for _ in range(5):
        tail.stdout.readline()
    tail.send_signal(signal.SIGTERM)
    assert tail.wait(timeout=30) == 143
    assert int(json.loads(cursor.read_text())[sid]["last_event_id"]) >= 5
    assert "terminated" in tail.stderr.read()


@pytest.mark.parametrize("path,needle", [("afile/c.json", "does not exist"), ("missing-dir/c.json", "does not exist")])
def test_a_cursor_file_that_cannot_be_written_is_refused_first(cli, emu, tmp_path, monkeypatch, path, needle):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    result = cli("tail", "lsn-x", "--cursor-file", path)
    assert result.exit_code == 2 and needle in result.stderr
    assert not (tmp_path / "missing-dir").exists()


@pytest.mark.parametrize("url", ["http://[::1/", "http://127.0.0.1:99999/", "http://127.0.0.1:abc/"])
def test_bad_forward_urls_are_usage_errors(url):
    with pytest.raises(UsageError):
        check_forward_url(url)


def test_server_data_in_headers_is_made_safe():
    assert header_value("inference.résult\nX-Evil: 1") == "inference.r%C3%A9sult%0AX-Evil: 1"
    assert header_value("lsn-26120100") == "lsn-26120100"


def test_a_payload_type_that_is_not_a_string_is_no_type(emu):
    from atai_cli.client.sse_decoder import ServerSentEvent
    from atai_cli.client.sse_follower import SseFollower

    follower = SseFollower(None, "http://x")
    event = follower._to_output(ServerSentEvent('{"type": 5, "event_data": 1}'))
    assert event.type is None and not event.envelope and event.kind == "message"


def test_a_line_that_never_ends_is_refused(monkeypatch):
    from atai_cli.client import sse_decoder

    monkeypatch.setattr(sse_decoder, "MAX_LINE", 1000)
    decoder = EventStreamDecoder()
    with pytest.raises(StreamTooLarge):
        for _ in range(20):
            decoder.feed(b"data: " + b"x" * 100)


def test_exec_with_a_large_line_and_a_command_that_ignores_stdin(emu):
    emu.configure(idle_timeout_s=0)
    sid = emu.running_session(MAILBOX_LENS_ID)
    with emu.api() as api:
        api.session_event(sid, "input_stream.set", {"stream_type": "synthetic_reader",
                                                    "stream_config": {"count": 2, "rate_hz": 50, "payload_bytes": 300_000}})
    result = run_cli("tail", sid, "--exec", "true", "--max-events", "2", "--client-id", "big", "--timeout", "30")
    assert result.exit_code == 0, result.stderr
