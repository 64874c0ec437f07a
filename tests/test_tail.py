"""atai tail end to end: channels, faults, filters, limits, resume; pipes and signals in real
subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from atai_cli.emulator.catalog import CAMERA_LENS_ID, MAILBOX_LENS_ID, SSE_LENS_ID
from atai_cli.emulator.server import EmulatorServer
from atai_cli.emulator.tuning import EmulatorConfig
from atai_cli.pipeline.cursors import Cursor, CursorStore
from conftest import FAST, SAMPLE_CSV, atai_process, read_until, run_cli, saved_cursors, wait_until
from receiver import free_port

CSV_INPUT = {"stream_type": "csv_file_reader", "stream_config": {"file_id": "sample.csv"}}


@pytest.fixture
def sse_session(emu):
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    emu.configure(idle_timeout_s=0.5)
    return emu.running_session(SSE_LENS_ID)


def read_indexes(lines):
    return [json.loads(l)["event_data"]["query_metadata"]["query_metadata"]["read_index"] for l in lines]


def test_tail_prints_each_event_as_sent_and_ends_on_stream_end(cli, emu, sse_session):
    emu.set_input_later(sse_session, CSV_INPUT)
    result = cli("tail", sse_session)
    assert result.exit_code == 0, result.stderr
    assert read_indexes(result.lines) == [0, 10, 20, 30, 40, 50]
    # the data exactly as the server sent it: the emulator's compact JSON, byte for byte
    frames = [e.frame for e in emu.session(sse_session).outputs.events]
    assert [f"data: {line}\n\n".encode() in frames[i] for i, line in enumerate(result.lines)] == [True] * 6
    assert "sse channel" in result.stderr and "output_streams has server_sent_events_writer" in result.stderr
    assert "sse.stream.end" in result.stderr


def test_tail_survives_drops_with_no_loss_or_repeat(cli, emu, sse_session):
    emu.configure(drop_every=1, drop_partial=True)
    emu.set_input_later(sse_session, CSV_INPUT)
    result = cli("tail", sse_session, "--meta")
    assert result.exit_code == 0, result.stderr
    events = [json.loads(l) for l in result.lines]
    assert [e["id"] for e in events] == ["1", "2", "3", "4", "5", "6"]
    assert all(e["channel"] == "sse" and e["event"] == "message" for e in events)


def test_tail_reconnects_when_the_stream_goes_silent(cli, emu, sse_session):
    emu.configure(silence_after=3, silence_connections=1, heartbeat_s=0.05)
    emu.set_input_later(sse_session, CSV_INPUT)
    result = cli("tail", sse_session, "--heartbeat", "0.1")
    assert result.exit_code == 0, result.stderr
    assert read_indexes(result.lines) == [0, 10, 20, 30, 40, 50]


def test_heartbeats_longer_than_the_client_timeouts_keep_it_connected(cli, emu, sse_session):
    emu.configure(heartbeat_s=0.1, idle_timeout_s=1.5)
    # 3 x 0.5 s of liveness against 0.1 s heartbeats: plenty of margin on a loaded machine
    result = cli("--debug", "tail", sse_session, "--heartbeat", "0.5", "--envelope")
    assert result.exit_code == 0
    types = [json.loads(l)["type"] for l in result.lines]
    assert types[0] == "sse.stream.start" and types[-1] == "sse.stream.end"
    assert types.count("sse.stream.heartbeat") >= 8
    assert "sse reconnecting" not in result.stderr


def test_comment_keepalives_count_as_liveness(cli, emu, sse_session):
    emu.configure(comment_keepalive=True, heartbeat_s=0.05, idle_timeout_s=1.0)
    result = cli("--debug", "tail", sse_session, "--heartbeat", "0.3", "--envelope")
    assert result.exit_code == 0
    assert [json.loads(l)["type"] for l in result.lines] == ["sse.stream.start", "sse.stream.end"]
    assert "sse reconnecting" not in result.stderr


def test_envelope_and_type_filters(cli, emu, sse_session):
    emu.set_input_later(sse_session, CSV_INPUT)
    result = cli("tail", sse_session, "--envelope", "--type", "sse.stream.start", "--type", "sse.stream.end")
    assert [json.loads(l)["type"] for l in result.lines] == ["sse.stream.start", "sse.stream.end"]


def test_max_events_stops_early(cli, emu, sse_session):
    emu.set_input_later(sse_session, CSV_INPUT)
    result = cli("tail", sse_session, "--max-events", "2")
    assert result.exit_code == 0 and read_indexes(result.lines) == [0, 10]
    assert "--max-events" in result.stderr


def test_timeout_exits_5_with_resume_hint(cli, emu, sse_session):
    emu.configure(idle_timeout_s=0)
    result = cli("tail", sse_session, "--timeout", "0.4")
    assert result.exit_code == 5 and "--timeout" in result.stderr and "resume with: atai tail" in result.stderr


def test_since_resumes_after_an_id(cli, emu, sse_session):
    emu.set_input_later(sse_session, CSV_INPUT)
    assert len(cli("tail", sse_session).lines) == 6
    resumed = cli("tail", sse_session, "--since", "3", "--meta")
    assert [json.loads(l)["id"] for l in resumed.lines] == ["4", "5", "6"]


def test_non_json_frame_is_reported_and_skipped(cli, emu, sse_session):
    emu.configure(sse_garbage=True)
    emu.set_input_later(sse_session, CSV_INPUT)
    plain = cli("tail", sse_session)
    assert plain.exit_code == 0 and len(plain.lines) == 6
    assert "not JSON" in plain.stderr and "stream ended after 6 events" in plain.stderr  # counted as not printed
    emu.set_input_later(sse_session, CSV_INPUT)
    capped = cli("tail", sse_session, "--since", "1", "--max-events", "6")
    assert capped.exit_code == 0 and len(capped.lines) == 6  # --max-events counts printed events only


def test_non_json_frame_is_a_string_with_meta(cli, emu, sse_session):
    emu.configure(sse_garbage=True)
    meta = cli("tail", sse_session, "--meta")
    assert json.loads(meta.lines[0])["data"] == "<html>this is not JSON</html>"


def test_destroy_ends_the_tail(cli, emu, sse_session):
    emu.configure(idle_timeout_s=0)
    emu.destroy_later(sse_session, wait_reader=True)
    assert cli("tail", sse_session).exit_code == 0


def test_mailbox_lens_on_auto_uses_session_read(cli, emu):
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    session_id = emu.running_session(MAILBOX_LENS_ID)
    emu.set_input_later(session_id, CSV_INPUT, wait_reader=False)
    result = cli("tail", session_id, "--max-events", "6", "--meta")
    assert result.exit_code == 0, result.stderr
    messages = [json.loads(l) for l in result.lines]
    assert [m["channel"] for m in messages] == ["read"] * 6
    assert [m["data"]["data"]["query_metadata"]["query_metadata"]["read_index"] for m in messages] == [0, 10, 20, 30, 40, 50]
    assert "read channel" in result.stderr


def test_mailbox_tail_survives_dropped_websockets(cli, emu):
    session_id = emu.running_session(MAILBOX_LENS_ID)
    emu.configure(ws_drop_every=2)
    with emu.api() as api:
        for n in range(8):
            api.session_event(session_id, "session.update", {"type": "data.json", "event_data": {"sensor_data": [[n]]}})
    emu.configure(read_batch=1)  # one message per read: many reads, many drops
    result = cli("--debug", "tail", session_id, "--max-events", "8", "--client-id", "dropper")
    assert result.exit_code == 0, result.stderr
    assert [json.loads(l)["data"]["channel_means"] for l in result.lines] == [[float(n)] for n in range(8)]
    assert result.stderr.count("WS connect") >= 4  # it reconnected, with the same client id


def test_mailbox_tail_ends_when_the_session_is_destroyed(cli, emu):
    session_id = emu.running_session(MAILBOX_LENS_ID)
    emu.destroy_later(session_id, wait_connected=True)  # once the tail's WebSocket is open
    result = cli("tail", session_id)
    assert result.exit_code == 0 and "session was destroyed" in result.stderr


def test_attached_sse_writer_switches_auto_to_sse(cli, emu):
    session_id = emu.running_session(CAMERA_LENS_ID)
    assert cli("stream", "output", session_id).exit_code == 0
    emu.configure(idle_timeout_s=0.3)
    result = cli("tail", session_id)
    assert result.exit_code == 0 and "sse channel" in result.stderr


def test_forced_channel_and_bad_channel(cli, emu, sse_session):
    result = cli("tail", sse_session, "--channel", "read", "--timeout", "0.3")
    assert result.exit_code == 5 and "read channel (--channel read)" in result.stderr
    assert cli("tail", sse_session, "--channel", "carrier-pigeon").exit_code == 2


def test_204_ends_the_tail_without_reconnecting(cli, emu, sse_session):
    emu.configure(fail_path="consumer", fail_count=1, fail_status=204)
    result = cli("--debug", "tail", sse_session)
    assert result.exit_code == 0 and "server ended the stream (204)" in result.stderr
    assert "sse reconnecting" not in result.stderr


@pytest.mark.parametrize("status,code", [(401, 3), (403, 3), (400, 1), (500, 1)])
def test_consumer_errors_fail_without_reconnecting(cli, emu, sse_session, status, code):
    emu.configure(fail_path="consumer", fail_count=1, fail_status=status)
    result = cli("--debug", "tail", sse_session)
    assert result.exit_code == code, result.stderr
    assert "sse reconnecting" not in result.stderr


def test_consumer_429_is_retried(cli, emu, sse_session):
    emu.configure(fail_path="consumer", fail_count=2, fail_status=429, retry_after=0.01)
    emu.set_input_later(sse_session, CSV_INPUT)
    result = cli("tail", sse_session)
    assert result.exit_code == 0 and len(result.lines) == 6


def test_unknown_session_exits_4(cli, emu):
    assert cli("tail", "lsn-nope").exit_code == 4


def test_tail_waits_for_running(cli, emu):
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    emu.configure(start_delay_s=0.5, idle_timeout_s=0.3)
    with emu.api() as api:
        session_id = api.create_session(SSE_LENS_ID)["session_id"]
    result = cli("tail", session_id)
    assert result.exit_code == 0 and "sse.stream.end" in result.stderr


# -- real processes: pipes and signals ------------------------------------------------------
def test_pipe_to_head_exits_quietly(emu):
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    emu.configure(idle_timeout_s=0)
    session_id = emu.running_session(SSE_LENS_ID)
    with emu.api() as api:
        api.session_event(session_id, "input_stream.set", {"stream_type": "rtsp_video_reader", "stream_config": {"rtsp_url": "rtsp://cam/1"}})
    tail = atai_process(emu, "tail", session_id)
    head = subprocess.run(["head", "-n", "3"], stdin=tail.stdout, capture_output=True, text=True, timeout=30)
    tail.stdout.close()
    stderr = tail.stderr.read()
    assert tail.wait(timeout=30) == 0
    assert len(head.stdout.splitlines()) == 3
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


def tail_process_fed_with_csv(emu, session_id):
    """`atai tail` in a real process, with the CSV input set once it is listening."""
    tail = atai_process(emu, "tail", session_id)
    emu.wait_for_reader(session_id)
    with emu.api() as api:
        api.session_event(session_id, "input_stream.set", CSV_INPUT)
    return tail


def test_sigint_exits_130_and_says_where_to_resume(emu):
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    emu.configure(idle_timeout_s=0)
    session_id = emu.running_session(SSE_LENS_ID)
    tail = tail_process_fed_with_csv(emu, session_id)
    first = tail.stdout.readline()
    second = tail.stdout.readline()
    assert json.loads(first) and json.loads(second)
    assert json.loads(tail.stdout.readline())  # a third line: the cursor is past the second by now
    tail.send_signal(signal.SIGINT)
    assert tail.wait(timeout=30) == 130
    stderr = tail.stderr.read()
    assert "Traceback" not in stderr
    assert f"resume with: atai tail {session_id} --since " in stderr
    resume_id = stderr.split("--since ", 1)[1].split()[0]
    assert int(resume_id) >= 2


def test_lines_are_flushed_as_they_arrive(emu):
    """A consumer sees each line while the tail is still running (no block buffering)."""
    emu.configure(idle_timeout_s=0, output_interval_s=0.3)
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    session_id = emu.running_session(SSE_LENS_ID)
    tail = tail_process_fed_with_csv(emu, session_id)
    line = tail.stdout.readline()
    assert json.loads(line)["type"] == "inference.result"
    assert tail.poll() is None  # still running: the line came out on its own
    tail.send_signal(signal.SIGINT)
    assert tail.wait(timeout=30) == 130


def test_a_burst_is_all_on_stdout_while_the_stream_is_quiet(emu):
    """Lines are held back only while more data is already waiting on the socket: once a
    burst is read and the stream goes quiet (no heartbeat to come), every line is out."""
    import threading

    emu.configure(idle_timeout_s=0, heartbeat_s=3600)
    session_id = emu.running_session(SSE_LENS_ID)
    tail = atai_process(emu, "tail", session_id)
    emu.wait_for_reader(session_id)
    with emu.api() as api:
        api.session_event(session_id, "input_stream.set", {"stream_type": "synthetic_reader", "stream_config": {
            "count": 500, "payload_bytes": 64, "rate_hz": 0, "end": False}})
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(tail.stdout.readline() for _ in range(500)), daemon=True)
    reader.start()
    reader.join(60)  # a generous deadline: without a flush when quiet, the last lines never come
    assert len(lines) == 500 and [json.loads(l)["event_data"]["seq"] for l in lines] == list(range(500))
    assert tail.poll() is None  # the stream is still open: nothing ended it to push the lines out
    tail.send_signal(signal.SIGINT)
    assert tail.wait(timeout=30) == 130


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
    emu.push(sid, range(6))
    result = run_cli("tail", sid, "--max-events", "2", "--client-id", "partial")
    assert result.exit_code == 0 and len(result.lines) == 2
    assert "4 mailbox messages read but not printed" in result.stderr


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


def own_emulator(port: int, key: str) -> EmulatorServer:
    return EmulatorServer(port=port, api_key=key, config=EmulatorConfig(**{**FAST, "idle_timeout_s": 0})).start()


def tail_against(server: EmulatorServer, *args: str, tmp_path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATAI_")}
    env.update(ATAI_API_ENDPOINT=server.endpoint, ATAI_API_KEY=server.api_key, ATAI_RETRY_DELAY="0.01",
               ATAI_RECONNECT_DELAY="0.05", XDG_CONFIG_HOME=str(tmp_path), PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "atai_cli", "tail", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def tail_whose_server_goes(lens: str, *args: str, tmp_path) -> tuple[subprocess.Popen, str, int, str]:
    """A tail of a session on an emulator of its own, which is then stopped."""
    from atai_cli.client.api import LensApi

    port, key = free_port(), "atai-emu-" + os.urandom(4).hex()
    server = own_emulator(port, key)
    try:
        with LensApi.connect(server.endpoint, server.api_key) as api:
            sid = api.create_session(lens)["session_id"]
            api.wait_running(sid, 10)
        tail = tail_against(server, sid, *args, tmp_path=tmp_path)
        read_until(tail.stderr, "following")
        session = server.state.sessions[sid]
        wait_until(lambda: session.readers or session.num_active_connections)  # connected, then the server goes
    finally:
        server.stop()
    return tail, sid, port, key


@pytest.mark.parametrize("lens", [SSE_LENS_ID, MAILBOX_LENS_ID])
def test_a_server_that_is_gone_is_said_on_stderr_and_a_server_back_without_the_session_is_exit_4(tmp_path, lens):
    tail, sid, port, key = tail_whose_server_goes(lens, "--client-id", "gone", tmp_path=tmp_path)
    seen = read_until(tail.stderr, "reconnecting in")
    assert "connection refused" in seen or "closed the connection" in seen
    server = own_emulator(port, key)  # back, but without the session
    try:
        out, err = tail.communicate(timeout=60)
    finally:
        server.stop()
    assert tail.returncode == 4, seen + err
    assert f"session {sid} vanished" in err


def test_give_up_after_ends_with_exit_1_and_the_resume_hint(tmp_path):
    tail, sid, _, _ = tail_whose_server_goes(SSE_LENS_ID, "--give-up-after", "1", tmp_path=tmp_path)
    out, err = tail.communicate(timeout=60)
    assert tail.returncode == 1, err
    assert "gave up reconnecting after 1s" in err and f"resume with: atai tail {sid}" in err


def test_reconnect_give_up_is_a_setting_too(cli, emu):
    assert cli("config", "set", "reconnect_give_up", "30").exit_code == 0
    shown = {r["setting"]: r for r in json.loads(cli("config", "show", "--json").stdout)["settings"]}
    assert shown["reconnect_give_up"]["value"] == 30.0


def test_meta_lines_have_the_same_shape_on_both_channels(cli, emu):
    emu.configure(idle_timeout_s=0.5)
    mailbox, sse = emu.running_session(MAILBOX_LENS_ID), emu.running_session(SSE_LENS_ID)
    with emu.api() as api:
        api.session_event(mailbox, "session.update", {"type": "data.json", "event_data": {"sensor_data": [[1]]}})
    read = json.loads(cli("tail", mailbox, "--meta", "--max-events", "1", "--client-id", "shape").lines[0])

    def push() -> None:
        emu.wait_for_reader(sse)
        with emu.api() as api:
            api.session_event(sse, "session.update", {"type": "data.json", "event_data": {"sensor_data": [[1]]}})

    import threading

    threading.Thread(target=push, daemon=True).start()
    over_sse = json.loads(cli("tail", sse, "--meta", "--max-events", "1").lines[0])
    for line in (read, over_sse):
        assert line["type"] == "inference.result" and line["payload"]["response"][0] == "active"
        assert isinstance(line["timestamp"], float) or line["timestamp"] is None
    assert read["payload"] == read["data"]["data"] and over_sse["payload"] == over_sse["data"]["event_data"]


def test_tail_idle_exit_ignores_heartbeats(cli, emu):
    emu.configure(idle_timeout_s=0, heartbeat_s=0.05)
    sid = emu.running_session(SSE_LENS_ID)
    result = cli("tail", sid, "--idle-exit", "0.5")
    assert result.exit_code == 0 and "--idle-exit" in result.stderr


def test_tail_channel_sse_on_a_mailbox_lens_warns(cli, emu):
    sid = emu.running_session(MAILBOX_LENS_ID)
    result = cli("tail", sid, "--channel", "sse", "--timeout", "0.5")
    assert "has no SSE writer" in result.stderr


def test_a_session_read_that_never_answers_is_a_broken_connection_not_a_type_error(cli, emu):
    session_id = emu.running_session(MAILBOX_LENS_ID)
    emu.configure(ws_silent_types="session.read")
    # no --timeout: each request's own timeout applies; a reply that never comes is a half-open
    # connection, retried like a dropped one until --give-up-after
    result = cli("tail", session_id, "--give-up-after", "1", env={"ATAI_TIMEOUT": "0.3"})
    assert result.exit_code == 1, result.stderr
    assert "gave up reconnecting after 1s: no reply to session.read" in result.stderr
    assert "reconnecting in" in result.stderr
    assert "TypeError" not in result.stderr and "unexpected failure" not in result.stderr


def test_a_redirect_loop_on_the_consumer_stops_at_the_first_loop(cli, emu):
    session_id = emu.running_session(SSE_LENS_ID)
    emu.configure(fail_path="consumer", fail_status=307, fail_count=50, redirect_location="")
    result = cli("tail", session_id, "--channel", "sse")
    assert result.exit_code == 1 and "redirect loop" in result.stderr, result.stderr
    assert emu.configure()["fail_count"] == 49  # one request, not ~21
