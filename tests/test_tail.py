"""atai tail end to end: channels, faults, filters, limits, resume; pipes and signals in real
subprocesses."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from atai_cli.emulator.catalog import CAMERA_LENS_ID, MAILBOX_LENS_ID, SSE_LENS_ID
from conftest import SAMPLE_CSV, atai_process

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
    assert "not JSON" in plain.stderr


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
