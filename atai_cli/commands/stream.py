"""atai stream: set a session's input stream, attach an output writer."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from atai_cli.commands._common import ConfigJsonOpt, JsonOpt, SetOpt, check_valid, parse_json_object, parse_set, state
from atai_cli.errors import UsageError
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
    session_id: str,
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
    if json_:
        out.json(reply.get("event_data"))
    else:
        out.success(f"input stream of {session_id} set to {stream_type}")


@app.command("output")
def stream_output(
    ctx: typer.Context,
    session_id: str,
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
    if json_:
        out.json(reply.get("event_data"))
    else:
        out.success(f"{stream_type} attached to {session_id}")
