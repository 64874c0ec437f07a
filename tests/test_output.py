"""The output layer on its own: every mode, stdout/stderr separation, redaction, the views."""

from __future__ import annotations

import io
import json
import time

import pytest
from rich.console import Console

from atai_cli.output import Column, Output
from atai_cli.output.fleet_view import FleetView, session_colour
from atai_cli.output.formats import duration, local_time, plural
from atai_cli.output.jsonl import SHAPE_DATA, SHAPE_FLEET, SHAPE_META, JsonLinesWriter, event_line
from atai_cli.output.live import LiveView
from atai_cli.pipeline.fleet import SessionOutcome
from atai_cli.protocol.events import OutputEvent, StreamStatus

ROWS = [{"session_id": "lsn-1", "api_key": "sk-secret", "n": 1.5, "cfg": {"a": [1]}, "session_duration_sec": 1191.722,
         "last_update_timestamp": 1796108696.5}]
COLUMNS = [Column("session_id", "SESSION ID"), Column("n", "N"), Column("cfg", "CONFIG"),
           Column("session_duration_sec", "AGE", "duration"), Column("last_update_timestamp", "UPDATED", "time")]


def outputs(mode: str):
    out, err = io.StringIO(), io.StringIO()
    layer = Output(stdout=out, stderr=err, stdout_tty=mode == "tty", stderr_tty=False, json_mode=mode == "json")
    return layer, out, err


def test_table_on_a_terminal_and_as_json():
    human, out, err = outputs("tty")
    human.table(ROWS, COLUMNS)
    assert "lsn-1" in out.getvalue() and "SESSION ID" in out.getvalue() and err.getvalue() == ""
    assert "19m51s" in out.getvalue() and "1191.7" not in out.getvalue()
    machine, out, _ = outputs("json")
    machine.table(ROWS, COLUMNS)
    assert json.loads(out.getvalue())[0]["api_key"] == "***"


def test_a_table_off_a_terminal_is_tab_separated_and_never_wrapped():
    plain, out, _ = outputs("plain")
    rows = [{**ROWS[0], "session_id": "lsn-" + "x" * 150}] * 3
    plain.table(rows, COLUMNS)
    lines = out.getvalue().splitlines()
    assert lines[0] == "SESSION ID\tN\tCONFIG\tAGE\tUPDATED"
    assert len(lines) == 4 and all(line.count("\t") == 4 for line in lines)
    assert lines[1].startswith("lsn-" + "x" * 150 + "\t1.5\t")
    assert local_time(1796108696.5) in lines[1] and "\x1b" not in out.getvalue() and "│" not in out.getvalue()


def test_record_is_redacted_in_every_mode():
    for mode in ("tty", "plain", "json"):
        layer, out, err = outputs(mode)
        layer.record({"session_id": "lsn-1", "api_key": "sk-secret", "nested": {"api_key": "sk-secret"}})
        assert "sk-secret" not in out.getvalue() + err.getvalue()


def test_a_record_shows_nested_config_as_yaml_on_a_terminal():
    layer, out, _ = outputs("tty")
    layer.record({"lens_id": "lns-1", "lens_config": {"model_pipeline": [{"processor_name": "p"}], "model_parameters": {"focus": "cars"}}})
    text = out.getvalue()
    assert "processor_name: p" in text and "focus: cars" in text and '{"model_pipeline"' not in text


def test_messages_go_to_stderr_only():
    layer, out, err = outputs("tty")
    layer.info("working")
    layer.warn("careful")
    layer.error("broken", "do this")
    layer.success("done")
    assert out.getvalue() == ""
    text = err.getvalue()
    assert "working" in text and "warning: careful" in text and "error: broken" in text and "hint: do this" in text


def test_empty_table_says_so_on_stderr():
    layer, out, err = outputs("tty")
    layer.table([], COLUMNS, empty="no sessions")
    assert out.getvalue() == "" and "no sessions" in err.getvalue()


def test_progress_and_spinner_are_silent_off_a_terminal():
    layer, out, err = outputs("plain")
    with layer.progress("uploading", 10) as update:
        update(5, 10)
    with layer.spinner("waiting"):
        pass
    assert out.getvalue() == "" and err.getvalue() == ""


def test_readable_times_durations_and_plurals():
    assert duration(1191.722) == "19m51s" and duration(7384) == "2h03m" and duration(90000) == "1d01h" and duration(0.4) == "0.4s"
    assert local_time(1796108696) == time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1796108696))
    assert local_time(None) == "-" and local_time("soon") == "soon"
    assert plural(1, "event") == "1 event" and plural(2, "window") == "2 windows" and plural(0, "event") == "0 events"


SSE = OutputEvent("sse", "7", "message", "inference.result",
                  {"type": "inference.result", "timestamp": 17.5, "event_data": {"response": ["a"]}},
                  '{"type":"inference.result","timestamp":17.5,"event_data":{"response":["a"]}}', session_id="lsn-1")
MAIL = OutputEvent("read", None, "inference.result", "inference.result",
                   {"timestamp": 18.0, "type": "inference.result", "data": {"response": ["a"]}}, session_id="lsn-2")


def test_event_lines_keep_server_bytes_and_wrap_the_same_on_both_channels():
    assert event_line(SSE, SHAPE_DATA) == SSE.raw
    assert event_line(OutputEvent("sse", "9", "message", None, "oops", "oops", ok=False), SHAPE_DATA) is None
    sse, mail = json.loads(event_line(SSE, SHAPE_META)), json.loads(event_line(MAIL, SHAPE_META))
    assert set(sse) == {"id", "event", "channel", "data", "type", "payload", "timestamp"}
    assert sse["payload"] == mail["payload"] == {"response": ["a"]}
    assert (sse["type"], sse["timestamp"], mail["timestamp"]) == ("inference.result", 17.5, 18.0)
    fleet = json.loads(event_line(MAIL, SHAPE_FLEET))
    assert list(fleet)[0] == "session_id" and fleet["session_id"] == "lsn-2"
    assert json.loads(event_line(OutputEvent("sse", None, "message", None, "oops", "oops", ok=False), SHAPE_META))["data"] == "oops"


def test_json_lines_writer_batches_until_flushed():
    class Stream(io.StringIO):
        flushes = 0

        def flush(self):
            Stream.flushes += 1

    stream = Stream()
    writer = JsonLinesWriter(stream, batched=True)
    writer.write_line("{}")
    writer.write_line("[]")
    assert Stream.flushes == 0
    writer.flush()
    assert stream.getvalue() == "{}\n[]\n" and Stream.flushes == 1


def test_live_view_renders_state_counts_and_events():
    console = Console(file=io.StringIO(), width=120, height=30, record=True, color_system=None)
    view = LiveView(console, "lsn-1", "sse", "writer found")
    status = StreamStatus(channel="sse")
    status.update("connected")
    view.status_changed(None, status)
    for n in range(3):
        view.add(OutputEvent("sse", str(n + 1), "message", "inference.result", {"type": "inference.result", "event_data": {"response": [f"label-{n}\x1b[31m"]}}))
    console.print(view.render())
    text = console.export_text()
    assert "lsn-1" in text and "connected" in text and "3 events" in text and "last id 3" in text
    assert "inference.result" in text and "label-2" in text
    assert "\x1b" not in text  # server strings cannot inject terminal escapes
    status.update("reconnecting", "connection refused", retry_at=time.monotonic() + 2)
    console.print(view.render())
    frame = console.export_text()
    assert frame.count("reconnecting in") == 1 and "connection refused" in frame  # one countdown, the cause beside it


@pytest.mark.parametrize("width,height", [(80, 24), (200, 50), (30, 8), (20, 6)])
def test_fleet_view_fits_any_terminal(width, height):
    console = Console(file=io.StringIO(), width=width, height=height, record=True, color_system=None)
    view = FleetView(console)
    for n in range(30):
        sid = f"lsn-261201{n:024x}"
        outcome = SessionOutcome(sid, lens_id="lns-emulator-sse", channel="sse" if n % 3 else "read")
        view.session_started(outcome)
        status = StreamStatus(channel=outcome.channel)
        status.update("connected")
        view.status_changed(outcome, status)
        view.add(OutputEvent(outcome.channel, str(n), "message", "inference.result", {"event_data": {"response": ["ok"]}}, session_id=sid))
    console.print(view.render())
    lines = console.export_text().splitlines()
    assert len(lines) <= height
    assert all(len(line) <= width for line in lines)
    assert any("more sessions" in line for line in lines)


def test_session_colours_are_stable():
    assert session_colour("lsn-a") == session_colour("lsn-a")
    assert len({session_colour(f"lsn-{n}") for n in range(50)}) > 5


def test_a_reader_that_stops_reading_blocks_the_writer_and_nothing_piles_up():
    """A full pipe: the writer blocks (and with it the stream it is printing); what atai holds
    is at most stdout's buffer, never a growing backlog."""
    import fcntl
    import os
    import select
    import termios
    import threading

    read_end, write_end = os.pipe()
    capacity = fcntl.fcntl(write_end, 1032)  # F_GETPIPE_SZ
    stream = io.TextIOWrapper(io.BufferedWriter(io.FileIO(write_end, "w"), buffer_size=8192))
    writer = JsonLinesWriter(stream, batched=True)
    line = json.dumps({"type": "inference.result", "pad": "x" * 80})
    total = 4 * (capacity + 8192) // (len(line) + 1)
    returned = []

    def write_all():
        for _ in range(total):
            writer.write_line(line)
            returned.append(1)
        writer.flush()

    thread = threading.Thread(target=write_all, daemon=True)
    thread.start()

    def in_pipe() -> int:
        return int.from_bytes(fcntl.ioctl(read_end, termios.FIONREAD, b"\0\0\0\0"), "little")

    full = capacity - 4096  # pipes fill by pages: the last one may stay partly empty
    deadline = time.monotonic() + 60
    while in_pipe() < full and time.monotonic() < deadline:
        time.sleep(0.01)
    assert in_pipe() >= full
    assert thread.is_alive()  # more lines than the pipe and the buffer hold: it must be waiting
    assert len(returned) * (len(line) + 1) <= capacity + 8192 + len(line) + 1
    received = b""
    while thread.is_alive() or in_pipe():
        # The writer may be between its last write and its return: never block on an empty pipe.
        if select.select([read_end], [], [], 0.05)[0]:
            received += os.read(read_end, 1 << 16)
    thread.join(10)
    assert received.count(b"\n") == total
    os.close(read_end)
    stream.close()


def test_state_durations_use_each_events_own_time():
    """A mailbox session's history, read at once: the times between results are the events' own,
    not the moment they arrived (which would make every state last 0s)."""
    console = Console(file=io.StringIO(), width=120, height=40, record=True, color_system=None)
    view = LiveView(console, "lsn-1", "read", "")
    start = time.time() - 600
    labels = ["NORMAL"] * 5 + ["FAULT"] * 3 + ["NORMAL"] * 2
    for n, label in enumerate(labels):
        data = {"timestamp": start + 60 * n, "type": "inference.result", "data": {"response": [label, {label: 0.9}]}}
        view.add(OutputEvent("read", None, "inference.result", "inference.result", data))
    history = view.history
    assert history.labels["FAULT"].seconds == 180  # three results a minute apart
    assert history.labels["NORMAL"].seconds == 5 * 60 + 60  # and then one minute more
    assert history.last_change == start + 480
    assert view.events.rows[0][0] == time.strftime("%H:%M:%S", time.localtime(start))  # the TIME column too
    view.add(OutputEvent("read", None, "inference.result", "inference.result",  # out of order: no negative time
                         {"timestamp": start, "type": "inference.result", "data": {"response": ["FAULT", {"FAULT": 0.9}]}}))
    assert history.labels["NORMAL"].seconds == 5 * 60 + 60 and history.seconds_in("FAULT", start) == 180
    console.print(view.render())
    assert "FAULT" in console.export_text()


def test_a_hint_of_several_lines_wraps_its_prose_and_keeps_commands_whole():
    err = io.StringIO()
    layer = Output(stdout=io.StringIO(), stderr=err, stdout_tty=False, stderr_tty=True, no_color=True)
    layer.err_console.width = 40
    command = "  atai tail lsn-261204aa1a697ace5463a98daaa83a --since 1302"
    layer.error("interrupted", "resume each session with:\n" + command + "\n(or run the fleet with --cursor-file FILE, which resumes every session at once)")
    lines = err.getvalue().splitlines()
    assert command in lines  # whole, on its own line
    prose = lines[lines.index(command) + 1:]
    assert len(prose) > 1 and all(len(line) <= 40 for line in prose) and "resumes" in " ".join(prose).split()
    plain = io.StringIO()
    Output(stdout=io.StringIO(), stderr=plain, stderr_tty=False).error("x", "a\n" + command)
    assert plain.getvalue().splitlines()[-1] == command  # off a terminal, as it is


def test_progress_lines_go_into_a_live_view_while_one_is_drawn(capsys):
    from atai_cli.environment import Environment
    from atai_cli.state import AppState

    import io

    err = io.StringIO()
    state = AppState(Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=err, environ={}))
    in_view: list[str] = []
    state.notices = in_view.append
    state.notify("429 from u; retrying in 60s")
    assert in_view == ["429 from u; retrying in 60s"] and err.getvalue() == ""
    state.notices = None
    state.notify("503 from u; retrying in 3s")
    assert "503 from u; retrying in 3s" in err.getvalue()
