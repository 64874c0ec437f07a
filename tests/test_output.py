"""The output layer on its own: every mode, stdout/stderr separation, redaction, the live view."""

from __future__ import annotations

import io
import json

from rich.console import Console

from atai_cli.client.stream import OutputEvent, StreamStatus
from atai_cli.output import Output
from atai_cli.output.live import LiveView
from atai_cli.output.stream import JsonLinesWriter

ROWS = [{"session_id": "lsn-1", "api_key": "sk-secret", "n": 1.5, "cfg": {"a": [1]}}]
COLUMNS = [("session_id", "SESSION ID"), ("n", "N"), ("cfg", "CONFIG")]


def outputs(json_mode: bool):
    out, err = io.StringIO(), io.StringIO()
    return Output(json_mode, stdout=out, stderr=err), out, err


def test_table_human_and_json():
    human, out, err = outputs(False)
    human.table(ROWS, COLUMNS)
    assert "lsn-1" in out.getvalue() and "SESSION ID" in out.getvalue() and err.getvalue() == ""
    machine, out, _ = outputs(True)
    machine.table(ROWS, COLUMNS)
    assert json.loads(out.getvalue()) == [{"session_id": "lsn-1", "api_key": "***", "n": 1.5, "cfg": {"a": [1]}}]


def test_record_is_redacted_in_every_mode():
    for mode in (False, True):
        out_layer, out, err = outputs(mode)
        out_layer.record({"session_id": "lsn-1", "api_key": "sk-secret", "nested": {"api_key": "sk-secret"}})
        assert "sk-secret" not in out.getvalue() + err.getvalue()


def test_messages_go_to_stderr_only():
    out_layer, out, err = outputs(False)
    out_layer.info("working")
    out_layer.warn("careful")
    out_layer.error("broken", "do this")
    out_layer.success("done")
    assert out.getvalue() == ""
    text = err.getvalue()
    assert "working" in text and "warning: careful" in text and "error: broken" in text and "hint: do this" in text


def test_empty_table_says_so_on_stderr():
    out_layer, out, err = outputs(False)
    out_layer.table([], COLUMNS, empty="no sessions")
    assert out.getvalue() == "" and "no sessions" in err.getvalue()


def test_progress_and_spinner_are_silent_off_a_terminal():
    out_layer, out, err = outputs(False)
    with out_layer.progress("uploading", 10) as update:
        update(5, 10)
    with out_layer.spinner("waiting"):
        pass
    assert out.getvalue() == "" and err.getvalue() == ""


def test_json_lines_writer_keeps_server_bytes_and_meta_wraps():
    buffer = io.StringIO()
    writer = JsonLinesWriter(buffer)
    raw = '{"type":"inference.result","event_data":{"x":1}}'
    writer.write_event(OutputEvent("sse", "7", "message", "inference.result", json.loads(raw), raw))
    multi = '{"type":"a",\n"b":2}'
    writer.write_event(OutputEvent("sse", "8", "message", "a", json.loads(multi), multi))
    assert not writer.write_event(OutputEvent("sse", "9", "message", None, "oops", "oops", ok=False))
    assert buffer.getvalue().splitlines() == [raw, '{"type":"a","b":2}']
    meta = io.StringIO()
    JsonLinesWriter(meta, meta=True).write_event(OutputEvent("sse", None, "message", None, "oops", "oops", ok=False))
    assert json.loads(meta.getvalue()) == {"id": None, "event": "message", "channel": "sse", "data": "oops"}


def test_live_view_renders_state_counts_and_events():
    console = Console(file=io.StringIO(), width=120, record=True, color_system=None)
    view = LiveView(console, "lsn-1", "sse", "writer found")
    status = StreamStatus(channel="sse")
    status.update("connected")
    view.on_status(status)
    for n in range(3):
        view.add(OutputEvent("sse", str(n + 1), "message", "inference.result", {"type": "inference.result", "event_data": {"response": [f"label-{n}\x1b[31m"]}}))
    console.print(view.render())
    text = console.export_text()
    assert "lsn-1" in text and "connected" in text and "events 3" in text and "last id 3" in text
    assert "inference.result" in text and "label-2" in text
    assert "\x1b" not in text  # server strings cannot inject terminal escapes
    status.update("reconnecting", "stream closed", retry_at=status.changed + 2)
    console.print(view.render())
    assert "reconnecting in" in console.export_text()
