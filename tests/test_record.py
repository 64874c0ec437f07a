"""Recording a live session (issue 12, the recording half): the file line by line."""

from __future__ import annotations

import json


from atai_cli.emulator.catalog import MAILBOX_LENS_ID, SSE_LENS_ID
from atai_cli.protocol.recording_format import read_recording
from conftest import SAMPLE_CSV, run_cli

CSV_INPUT = {"stream_type": "csv_file_reader", "stream_config": {"file_id": "sample.csv"}}


def lines_of(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_recording_an_sse_session_with_drops(emu, tmp_path):
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    emu.configure(idle_timeout_s=0.5, drop_every=2, drop_partial=True)
    sid = emu.running_session(SSE_LENS_ID)
    emu.set_input_later(sid, CSV_INPUT)
    path = tmp_path / "rec.jsonl"
    # filtered on screen, but the recording keeps everything received
    result = run_cli("tail", sid, "--record", str(path), "--type", "nothing.matches")
    assert result.exit_code == 0, result.stderr
    assert result.lines == []
    header, *events = lines_of(path)
    assert header["atai_recording"] == 1 and header["created_at"].endswith("Z")
    assert header["sessions"] == {sid: {"lens_id": SSE_LENS_ID, "channel": "sse"}}
    assert [e["id"] for e in events] == ["1", "2", "3", "4", "5", "6"]  # once each, in order, across the drops
    assert all(e["session_id"] == sid and e["channel"] == "sse" and e["event"] == "message" for e in events)
    assert all(e["data"]["type"] == "inference.result" for e in events)  # no envelope events
    ts = [e["t"] for e in events]
    assert ts == sorted(ts) and ts[0] >= 0
    assert read_recording(path).events[-1].id == "6"


def test_recording_a_mailbox_session(emu, tmp_path):
    sid = emu.running_session(MAILBOX_LENS_ID)
    with emu.api() as api:
        for n in range(3):
            api.session_event(sid, "session.update", {"type": "data.json", "event_data": {"sensor_data": [[n]]}})
    path = tmp_path / "mail.jsonl"
    result = run_cli("tail", sid, "--record", str(path), "--client-id", "rec", "--max-events", "3")
    assert result.exit_code == 0, result.stderr
    header, *events = lines_of(path)
    assert header["sessions"][sid]["channel"] == "read" and len(events) == 3
    # contract v3: a mailbox event's id is its 1-based position in the mailbox
    assert [e["id"] for e in events] == ["1", "2", "3"]
    assert all(e["channel"] == "read" and e["event"] == "inference.result" for e in events)
    assert [e["data"]["data"]["channel_means"] for e in events] == [[0.0], [1.0], [2.0]]
    assert emu.api_key not in path.read_text()


def test_every_api_key_and_secret_is_scrubbed_from_a_recording(tmp_path):
    from atai_cli.pipeline.recorder import Recorder
    from atai_cli.protocol.events import OutputEvent

    path = tmp_path / "rec.jsonl"
    sink = Recorder(path, append=False, secrets=["sk-the-real-key", "forward-secret-value"])
    sink.add_session("lsn-1", "lns-1", "sse")
    data = {"type": "session.record", "event_data": {"api_key": "sk-the-real-key", "list": [{"api_key": "other"}],
                                                    "note": "echoes sk-the-real-key and forward-secret-value"}}
    sink.write(OutputEvent("sse", "1", "message", "session.record", data, session_id="lsn-1"))
    sink.close()
    text = path.read_text()
    assert "sk-the-real-key" not in text and "forward-secret-value" not in text and '"other"' not in text
    event = read_recording(path).events[0]
    assert event.data["event_data"]["api_key"] == "***" and event.data["event_data"]["list"][0]["api_key"] == "***"


def test_a_fleet_records_every_session_in_one_file(emu, tmp_path):
    emu.configure(idle_timeout_s=0)
    sessions = [emu.running_session(MAILBOX_LENS_ID) for _ in range(3)]
    with emu.api() as api:
        for sid in sessions:
            api.session_event(sid, "input_stream.set", {"stream_type": "synthetic_reader", "stream_config": {"count": 4, "rate_hz": 100}})
    path = tmp_path / "fleet.jsonl"
    result = run_cli("tail", *sessions, "--record", str(path), "--max-events", "12", "--client-id", "rec")
    assert result.exit_code == 0, result.stderr
    recording = read_recording(path)
    assert set(recording.header["sessions"]) == set(sessions)
    assert sorted(e.session_id for e in recording.events) == sorted(sessions * 4)


def test_an_existing_recording_is_not_appended_to_unless_asked(emu, tmp_path):
    sid = emu.running_session(MAILBOX_LENS_ID)
    path = tmp_path / "rec.jsonl"
    assert run_cli("tail", sid, "--record", str(path), "--idle-exit", "0.3").exit_code == 0
    refused = run_cli("tail", sid, "--record", str(path))
    assert refused.exit_code == 2 and "already exists" in refused.stderr and "--record-append" in refused.stderr
    other = emu.running_session(MAILBOX_LENS_ID)
    mismatch = run_cli("tail", other, "--record", str(path), "--record-append")
    assert mismatch.exit_code == 2 and "is a recording of" in mismatch.stderr
    with emu.api() as api:
        api.session_event(sid, "session.update", {"type": "data.json", "event_data": {"sensor_data": [[1]]}})
    appended = run_cli("tail", sid, "--record", str(path), "--record-append", "--max-events", "1", "--client-id", "again")
    assert appended.exit_code == 0, appended.stderr
    recording = read_recording(path)
    assert len(recording.events) == 1 and len(path.read_text().splitlines()) == 2  # one header, still


def test_appending_to_a_file_that_is_not_a_recording_is_refused(emu, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    result = run_cli("tail", "lsn-x", "--record", str(path), "--record-append")
    assert result.exit_code == 2 and f"{path}:1" in result.stderr
    assert path.read_text() == "hello\n"


def test_appending_to_a_recording_keeps_its_clock_going(emu, tmp_path):
    sid = emu.running_session(MAILBOX_LENS_ID)
    emu.push(sid, [1, 2])
    path = tmp_path / "rec.jsonl"
    assert run_cli("tail", sid, "--record", str(path), "--max-events", "2", "--client-id", "one").exit_code == 0
    emu.push(sid, [3])
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
