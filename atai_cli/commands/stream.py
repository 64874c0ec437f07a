"""atai stream: set a session's input stream, attach an output writer, push sensor data."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from atai_cli.commands.base import AtaiTyper
from atai_cli.commands.inputs import open_text, parse_json_object, parse_set
from atai_cli.commands.options import ConfigJsonOpt, JsonOpt, SessionIdArg, SetOpt, app_state, finite
from atai_cli.errors import AtaiError, Interrupted, UsageError
from atai_cli.output.formats import plural
from atai_cli.protocol import streams

app = AtaiTyper(help="Input and output streams of a session.")

# The choices help and completion list.
InputType = enum.Enum("InputType", {name: name for name in sorted(streams.KNOWN_INPUT_TYPES)}, type=str)
OutputType = enum.Enum("OutputType", {name: name for name in sorted(streams.OUTPUT_TYPES)}, type=str)
PushFormat = enum.Enum("PushFormat", {name: name for name in ("auto", "jsonl", "csv")}, type=str)


@app.command("set")
def stream_set(
    ctx: typer.Context,
    session_id: SessionIdArg,
    stream_type: Annotated[InputType, typer.Option("--type", help="The input stream type.")],
    file_id: Annotated[str | None, typer.Option("--file-id", metavar="FILE_ID", help="An uploaded file's id (its name).")] = None,
    rtsp_url: Annotated[str | None, typer.Option("--rtsp-url", metavar="URL", help="rtsp://... camera URL.")] = None,
    size: Annotated[str | None, typer.Option("--size", metavar="HxW", help="Target image size, e.g. 360x640.")] = None,
    fps: Annotated[float | None, typer.Option("--fps", metavar="HZ", callback=finite, help="Target frame rate in Hz, e.g. 0.2.")] = None,
    set_: SetOpt = None,
    config_json: ConfigJsonOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Set the session's input stream (input_stream.set); it replaces any earlier input."""
    stream_type = stream_type.value
    extra = {**parse_json_object(config_json, "--config-json"), **parse_set(set_)}
    config = streams.input_config(stream_type, file_id=file_id, rtsp_url=rtsp_url, size=size, fps=fps, extra=extra)
    state = app_state(ctx)
    reply = state.api().set_input(session_id, stream_type, config)
    state.out.done(reply, f"input stream of {session_id} set to {streams.describe_input(streams.stream_event(stream_type, config))}")


@app.command("output")
def stream_output(
    ctx: typer.Context,
    session_id: SessionIdArg,
    stream_type: Annotated[OutputType, typer.Option("--type", help="The writer to attach.")] = streams.SSE_WRITER,
    set_: SetOpt = None,
    config_json: ConfigJsonOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Attach an output writer (output_stream.set); the default SSE writer makes any lens tailable over SSE."""
    from atai_cli.protocol.channels import sse_writer

    stream_type = getattr(stream_type, "value", stream_type)
    config = {**parse_json_object(config_json, "--config-json"), **parse_set(set_)}
    state = app_state(ctx)
    api = state.api()
    if stream_type in streams.SSE_WRITERS:
        found = sse_writer(api.session_status(session_id).get("lens_config"))
        if found:
            if config:
                state.out.warn(f"--set/--config-json not sent: {session_id} already has its SSE writer, "
                               f"whose config output_stream.set cannot change")
            state.out.done({"is_valid": True, "error_messages": [], "already": found},
                        f"{session_id} already writes to the SSE consumer ({found}); nothing to attach")
            return
    reply = api.set_output(session_id, stream_type, config)
    state.out.done(reply, f"{stream_type} attached to {session_id}")


@app.command("push")
def stream_push(
    ctx: typer.Context,
    session_id: SessionIdArg,
    source: Annotated[str, typer.Argument(metavar="FILE", help="JSON lines or CSV; - reads stdin.")],
    fmt: Annotated[PushFormat, typer.Option("--format", help="auto: by extension (stdin is jsonl).")] = "auto",
    rate: Annotated[float, typer.Option("--rate", metavar="N", callback=finite, min=0.001, help="Windows per second (the runner drops what overflows).")] = 1.0,
    window: Annotated[int, typer.Option("--window", metavar="ROWS", min=1, help="CSV rows per window.")] = 10,
    sensor_id: Annotated[str, typer.Option("--sensor-id", metavar="ID", help="sensor_metadata.sensor_id for CSV windows.")] = "atai",
    skip: Annotated[int, typer.Option("--skip", metavar="N", min=0, help="Skip the first N windows (to resume a push).")] = 0,
    json_: JsonOpt = False,
) -> None:
    """Stream sensor data into a session: each window becomes a session.update, paced by --rate."""
    from itertools import islice

    from atai_cli.protocol.windows import csv_windows, jsonl_events

    fmt = getattr(fmt, "value", fmt)
    if fmt == "auto":
        fmt = "csv" if source != "-" and Path(source).suffix.lower() in (".csv", ".tsv") else "jsonl"
    state = app_state(ctx)
    expected = "a CSV file" if fmt == "csv" else "a JSON lines file"
    handle = open_text(source, expected, state.env.stdin)
    name = "stdin" if source == "-" else source
    events = csv_windows(handle, window, sensor_id, name) if fmt == "csv" else jsonl_events(handle, name)
    out = state.out
    sent = 0
    try:
        with out.spinner(f"pushing to {session_id}") as spin:
            def progress(count: int) -> None:
                nonlocal sent
                sent = count
                if spin is not None:
                    spin.update(f"pushing to {session_id}: {plural(skip + count, 'window')} sent")

            state.api().push(session_id, islice(events, skip, None), rate, on_sent=progress)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted after {plural(sent, 'window')}",
                          hint=f"resume with: atai stream push {session_id} {source} --skip {skip + sent}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{name} is not {expected}: not UTF-8 text", hint=_resume(session_id, source, skip, sent)) from exc
    except AtaiError as exc:
        if sent:
            exc.hint = _resume(session_id, source, skip, sent)
        raise
    finally:
        if source != "-":
            handle.close()
    out.done({"session_id": session_id, "sent": sent, "skipped": skip}, f"sent {plural(sent, 'window')} to {session_id}")


def _resume(session_id: str, source: str, skip: int, sent: int) -> str | None:
    if not sent:
        return None
    return f"{plural(skip + sent, 'window')} were sent; resume with: atai stream push {session_id} {source} --skip {skip + sent}"
