"""Input streams on the emulator: one input per session (a second input_stream.set replaces
the first), stream_config validated before anything runs, and no client input ever raising
inside a handler or a background task."""

from __future__ import annotations

import json
import logging

import pytest

from atai_cli.emulator.catalog import CAMERA_LENS_ID, MAILBOX_LENS_ID, SSE_LENS_ID
from conftest import SAMPLE_CSV


def event(http, session_id, type_, data=None):
    body = {"session_id": session_id, "event": {"type": type_, **({"event_data": data} if data is not None else {})}}
    response = http.post("lens/sessions/events/process", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def big_csv(rows: int = 200) -> bytes:
    return ("timestamp,a,b\n" + "".join(f"{n},{n % 7},{n % 3}\n" for n in range(rows))).encode()


def mail_sources(emu, session_id):
    """(file_id, read_index) of each csv result in the session's mailbox, in order."""
    out = []
    for message in list(emu.session(session_id).mail):
        meta = message["data"]["query_metadata"]["query_metadata"]
        out.append((meta["file_id"], meta["read_index"]))
    return out


def test_second_input_stream_set_replaces_the_first(http, emu):
    emu.upload("big.csv", big_csv())
    emu.upload("machine.csv", SAMPLE_CSV.read_bytes())
    session_id = emu.running_session(MAILBOX_LENS_ID)
    big = {"stream_type": "csv_file_reader", "stream_config": {"file_id": "big.csv", "loop_recording": True}}
    assert event(http, session_id, "input_stream.set", big)["event_data"]["is_valid"] is True
    emu.wait_for(lambda: len(emu.session(session_id).mail) >= 2)
    machine = {"stream_type": "csv_file_reader", "stream_config": {"file_id": "machine.csv"}}
    assert event(http, session_id, "input_stream.set", machine)["event_data"]["is_valid"] is True
    emu.wait_for(lambda: ("machine.csv", 50) in mail_sources(emu, session_id))
    sources = mail_sources(emu, session_id)
    first_machine = sources.index(("machine.csv", 0))
    assert all(file_id == "big.csv" for file_id, _ in sources[:first_machine])
    assert sources[first_machine:] == [("machine.csv", n) for n in range(0, 60, 10)]  # no big.csv in between


def test_second_rtsp_input_replaces_the_first(http, emu):
    session_id = emu.running_session(MAILBOX_LENS_ID)
    for url in ("rtsp://cam/1", "rtsp://cam/2"):
        reply = event(http, session_id, "input_stream.set", {"stream_type": "rtsp_video_reader", "stream_config": {"rtsp_url": url}})
        assert reply["event_data"]["is_valid"] is True
        if url.endswith("1"):
            emu.wait_for(lambda: len(emu.session(session_id).mail) >= 2)
    texts = lambda: [m["data"]["response"][0] for m in list(emu.session(session_id).mail)]  # noqa: E731
    emu.wait_for(lambda: sum("rtsp://cam/2" in t for t in texts()) >= 3)
    seen = texts()
    first_cam2 = next(i for i, t in enumerate(seen) if "rtsp://cam/2" in t)
    assert all("rtsp://cam/2" in t for t in seen[first_cam2:])
    assert seen[first_cam2].startswith("Frames 0-4 of rtsp://cam/2")  # a new stream starts at frame 0


@pytest.mark.parametrize("config,reason", [
    ({"window_size": "abc"}, "window_size"),
    ({"window_size": 0}, "window_size"),
    ({"window_size": -3}, "window_size"),
    ({"step_size": 2.5}, "step_size"),
    ({"loop_recording": "sometimes"}, "loop_recording"),
    ({"cut_off_incomplete_window": "no"}, "cut_off_incomplete_window"),
    ({"output_format": "xml"}, "output_format"),
])
def test_bad_reader_settings_are_refused_with_the_reason(http, emu, config, reason, no_tracebacks):
    emu.upload("machine.csv", SAMPLE_CSV.read_bytes())
    session_id = emu.running_session(SSE_LENS_ID)
    reply = event(http, session_id, "input_stream.set", {"stream_type": "csv_file_reader", "stream_config": {"file_id": "machine.csv", **config}})
    assert reply["type"] == "input_stream.set.response"
    assert reply["event_data"]["is_valid"] is False
    assert any(reason in message for message in reply["event_data"]["error_messages"])
    # nothing was started: the session still has no input
    assert event(http, session_id, "session.status")["input_data_stream_id"] is None


GARBAGE = [None, 0, -1, 2.5, "abc", "", [], [1, "x"], {"x": {"y": [None]}}, True]
EVENT_TYPES = ["session.status", "session.validate", "session.read", "session.destroy", "session.heartbeat",
               "session.get", "session.modify", "session.update", "input_stream.set", "output_stream.set", "model.query"]


@pytest.fixture
def no_tracebacks():
    """Fails the test when the emulator logs any exception (a handler or a task that raised)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.exc_info or "Traceback" in record.getMessage():
                records.append(record)

    handler = Keep()
    loggers = [logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.error", "asyncio", "atai_cli")]
    for each in loggers:
        each.addHandler(handler)
    yield records
    for each in loggers:
        each.removeHandler(handler)
    assert not records, [r.getMessage() for r in records]


def fields_of(value):
    """Garbage for every field the handlers read, nested one level."""
    keys = ["client_id", "stream_type", "stream_config", "data", "type", "event_data", "focus", "input_n_shot",
            "csv_configs", "sensor_buffer_size", "template_name", "file_id", "window_size"]
    return {key: value for key in keys}


@pytest.mark.parametrize("type_", EVENT_TYPES)
def test_no_client_input_raises_in_a_handler(http, emu, type_, no_tracebacks):
    emu.upload("machine.csv", SAMPLE_CSV.read_bytes())
    emu.configure(query_timeout_s=0.05)
    session_id = emu.running_session(CAMERA_LENS_ID if type_ == "model.query" else SSE_LENS_ID)
    for value in GARBAGE:
        for data in (value, fields_of(value), {"stream_type": "csv_file_reader", "stream_config": fields_of(value)},
                     {"type": "data.json", "event_data": value}, {"input_n_shot": {"A": value}, "csv_configs": fields_of(value)}):
            if type_ == "session.destroy":
                continue  # would end the session; covered below
            reply = event(http, session_id, type_, data)
            assert isinstance(reply, dict) and ("type" in reply or "session_id" in reply), reply
    assert event(http, session_id, "session.destroy", {"x": GARBAGE})["type"] == "session.destroy.response"


def test_malformed_process_event_bodies_get_an_answer(http, emu, no_tracebacks):
    session_id = emu.running_session(SSE_LENS_ID)
    for body in ({"session_id": session_id}, {"session_id": session_id, "event": "session.status"},
                 {"session_id": session_id, "event": [1, 2]}, {"session_id": session_id, "event": {"type": 5}},
                 {"session_id": ["x"], "event": {}}, {"session_id": {"a": 1}}):
        response = http.post("lens/sessions/events/process", content=json.dumps(body))
        assert response.status_code in (200, 400, 404), response.text
        assert isinstance(response.json(), dict)
