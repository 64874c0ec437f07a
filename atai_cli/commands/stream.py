"""atai stream: set a session's input stream, attach an output writer."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path
from typing import Annotated, Iterable, Iterator

import typer

from atai_cli.commands._common import SessionIdArg, ConfigJsonOpt, JsonOpt, SetOpt, check_valid, parse_json_object, parse_set, state
from atai_cli.errors import AtaiError, UsageError
from atai_cli.protocol.channels import DEFAULT_SSE_WRITER

app = typer.Typer(help="Input and output streams of a session.", no_args_is_help=True)

RTSP_TYPES = {"rtsp_video_reader", "rtsp_video_streamer"}
FILE_TYPES = {"csv_file_reader", "video_file_reader", "jsonl_file_reader"}
KNOWN_TYPES = RTSP_TYPES | FILE_TYPES | {"sensor_streamer"}


def build_input_config(
    stream_type: str,
    file_id: str | None = None,
    rtsp_url: str | None = None,
    size: str | None = None,
    fps: float | None = None,
    extra: dict | None = None,
) -> dict:
    """The input_stream.set event_data, checked before anything is sent."""
    config: dict = {}
    if file_id:
        config["file_id"] = file_id
    if rtsp_url:
        if not re.match(r"^rtsps?://\S+$", rtsp_url):
            raise UsageError(f"--rtsp-url must be an rtsp:// URL, got {rtsp_url!r}")
        config["rtsp_url"] = rtsp_url
    if size:
        match = re.fullmatch(r"(\d+)[xX](\d+)", size.strip())
        if not match or 0 in (int(match[1]), int(match[2])):
            raise UsageError(f"--size must be HEIGHTxWIDTH, e.g. 360x640, got {size!r}")
        config["target_image_size"] = [int(match[1]), int(match[2])]
    if fps is not None:
        if fps <= 0:
            raise UsageError("--fps must be greater than 0")
        config["target_frame_rate_hz"] = fps
    config.update(extra or {})
    if stream_type in RTSP_TYPES and not config.get("rtsp_url"):
        raise UsageError(f"{stream_type} needs --rtsp-url")
    if stream_type in FILE_TYPES and not config.get("file_id"):
        raise UsageError(f"{stream_type} needs --file-id (upload one with `atai files upload PATH`)")
    return {"stream_type": stream_type, "stream_config": config}


@app.command("set")
def stream_set(
    ctx: typer.Context,
    session_id: SessionIdArg,
    stream_type: Annotated[str, typer.Option("--type", metavar="TYPE", help="csv_file_reader, video_file_reader, jsonl_file_reader, rtsp_video_reader, sensor_streamer...")],
    file_id: Annotated[str | None, typer.Option("--file-id", help="An uploaded file's id (its name).")] = None,
    rtsp_url: Annotated[str | None, typer.Option("--rtsp-url", help="rtsp://... camera URL.")] = None,
    size: Annotated[str | None, typer.Option("--size", metavar="HxW", help="Target image size, e.g. 360x640.")] = None,
    fps: Annotated[float | None, typer.Option("--fps", help="Target frame rate in Hz, e.g. 0.2.")] = None,
    set_: SetOpt = None,
    config_json: ConfigJsonOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Set the session's input stream (input_stream.set)."""
    extra = {**parse_json_object(config_json, "--config-json"), **parse_set(set_)}
    event = build_input_config(stream_type, file_id, rtsp_url, size, fps, extra)
    st = state(ctx)
    out = st.output(json_)
    if stream_type not in KNOWN_TYPES:
        out.warn(f"{stream_type} is not a stream type atai knows; sending it anyway")
    reply = check_valid(st.api(out).session_event(session_id, "input_stream.set", event), "input_stream.set")
    out.done(reply.get("event_data"), f"input stream of {session_id} set to {stream_type}")


@app.command("output")
def stream_output(
    ctx: typer.Context,
    session_id: SessionIdArg,
    stream_type: Annotated[str, typer.Option("--type", metavar="TYPE", help="The writer to attach.")] = DEFAULT_SSE_WRITER,
    set_: SetOpt = None,
    config_json: ConfigJsonOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Attach an output writer (output_stream.set); the default SSE writer makes any lens tailable over SSE."""
    config = {**parse_json_object(config_json, "--config-json"), **parse_set(set_)}
    st = state(ctx)
    out = st.output(json_)
    event = {"stream_type": stream_type, "stream_config": config}
    reply = check_valid(st.api(out).session_event(session_id, "output_stream.set", event), "output_stream.set")
    out.done(reply.get("event_data"), f"{stream_type} attached to {session_id}")


def jsonl_windows(lines: Iterable[str]) -> Iterator[dict]:
    """One data event per JSON line: a full event ({"type": "data.*", "event_data": ...}) is sent
    as is, anything else is wrapped as data.json."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise UsageError(f"line {number} is not JSON: {exc}") from exc
        if isinstance(value, dict) and str(value.get("type", "")).startswith("data.") and "event_data" in value:
            yield value
        else:
            yield {"type": "data.json", "event_data": value}


def csv_windows(lines: Iterable[str], window: int, sensor_id: str) -> Iterator[dict]:
    """CSV rows grouped into windows of `window` rows, sent channel-first as the time-series
    lenses expect: {"sensor_data": [[ch1...], [ch2...]], "sensor_metadata": {...}}."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if not header:
        raise UsageError("the CSV is empty")
    time_index = next((i for i, name in enumerate(header) if "time" in name.lower()), None)
    channels = [i for i in range(len(header)) if i != time_index]
    rows: list[list[str]] = []

    def flush() -> dict:
        data = []
        for column in channels:
            values = []
            for number, row in enumerate(rows):
                try:
                    values.append(float(row[column]))
                except (ValueError, IndexError) as exc:
                    raise UsageError(f"CSV column {header[column]!r} has a non-numeric value: {row}") from exc
            data.append(values)
        stamp = rows[0][time_index] if time_index is not None else None
        try:
            stamp = float(stamp) if stamp is not None else None
        except ValueError:
            pass
        return {"type": "data.json", "event_data": {
            "sensor_data": data, "sensor_metadata": {"sensor_timestamp": stamp, "sensor_id": sensor_id},
        }}

    for row in reader:
        if not row:
            continue
        rows.append(row)
        if len(rows) == window:
            yield flush()
            rows = []
    if rows:
        yield flush()


@app.command("push")
def stream_push(
    ctx: typer.Context,
    session_id: SessionIdArg,
    source: Annotated[str, typer.Argument(metavar="FILE|-", help="JSON lines or CSV; - reads stdin.")],
    fmt: Annotated[str, typer.Option("--format", help="auto (by extension; stdin is jsonl), jsonl or csv.")] = "auto",
    rate: Annotated[float, typer.Option("--rate", min=0.001, help="Windows per second (the runner drops what overflows).")] = 1.0,
    window: Annotated[int, typer.Option("--window", min=1, help="CSV rows per window.")] = 10,
    sensor_id: Annotated[str, typer.Option("--sensor-id", help="sensor_metadata.sensor_id for CSV windows.")] = "atai",
    skip: Annotated[int, typer.Option("--skip", min=0, help="Skip the first N windows (to resume a push).")] = 0,
    json_: JsonOpt = False,
) -> None:
    """Stream sensor data into a session: each window becomes a session.update, paced by --rate."""
    from itertools import islice

    from atai_cli.client.push import Pacer, push_windows

    if fmt not in ("auto", "jsonl", "csv"):
        raise UsageError(f"--format must be auto, jsonl or csv, got {fmt!r}")
    if source == "-":
        handle = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8") if hasattr(sys.stdin, "buffer") else sys.stdin
    else:
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"no such file: {source}")
        handle = path.open(encoding="utf-8", newline="")
        if fmt == "auto":
            fmt = "csv" if path.suffix.lower() in (".csv", ".tsv") else "jsonl"
    windows = csv_windows(handle, window, sensor_id) if fmt == "csv" else jsonl_windows(handle)
    st = state(ctx)
    out = st.output(json_)
    sent = 0
    try:
        with st.api(out).socket_for(session_id) as sock, out.spinner(f"pushing to {session_id}") as spin:
            def progress(count: int) -> None:
                nonlocal sent
                sent = count
                if spin is not None:
                    spin.update(f"pushing to {session_id}: {skip + count} windows sent")

            push_windows(sock, islice(windows, skip, None), Pacer(rate), on_sent=progress)
    except AtaiError as exc:
        if sent:
            exc.hint = f"{skip + sent} windows were sent; resume with --skip {skip + sent}"
        raise
    finally:
        if handle is not sys.stdin:
            handle.close()
    out.done({"session_id": session_id, "sent": sent, "skipped": skip}, f"sent {sent} windows to {session_id}")
