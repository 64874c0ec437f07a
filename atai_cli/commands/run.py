"""atai run: the whole flow every Archetype AI demo writes by hand, in one command.

create a session -> wait for RUNNING -> attach an SSE writer if the lens has none -> upload the
input -> open the output channel and wait for sse.stream.start (outputs are live-only) ->
set the input stream -> print the output until the stream ends -> destroy the session, also
on Ctrl-C and on errors (unless --keep).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from atai_cli.commands._common import LensIdArg, JsonOpt, SetOpt, check_valid, parse_set, require_file, state
from atai_cli.commands._follow import (
    EnvelopeOpt, FollowOptions, HeartbeatOpt, MaxEventsOpt, MetaOpt, TimeoutOpt, TypesOpt, follow_output,
)
from atai_cli.errors import UsageError
from atai_cli.protocol.channels import DEFAULT_SSE_WRITER, sse_writer

READERS_BY_SUFFIX = {".csv": "csv_file_reader", ".jsonl": "jsonl_file_reader", ".json": "jsonl_file_reader"}


def input_event(csv: Path | None, video: Path | None, rtsp: str | None, file_id: str | None, extra: dict) -> tuple[dict, Path | None]:
    """(the input_stream.set event_data, the local file to upload first)."""
    given = [x for x in (csv, video, rtsp, file_id) if x]
    if len(given) != 1:
        raise UsageError("give exactly one input: --csv FILE, --video FILE, --rtsp URL or --file-id ID")
    from atai_cli.commands.stream import build_input_config

    if csv:
        return build_input_config("csv_file_reader", require_file(csv).name, extra=extra), csv
    if video:
        return build_input_config("video_file_reader", require_file(video).name, extra=extra), video
    if rtsp:
        return build_input_config("rtsp_video_reader", rtsp_url=rtsp, extra=extra), None
    kind = READERS_BY_SUFFIX.get(Path(file_id).suffix.lower(), "video_file_reader")
    return build_input_config(kind, file_id, extra=extra), None


def run(
    ctx: typer.Context,
    lens_id: LensIdArg,
    csv: Annotated[Path | None, typer.Option("--csv", help="A local CSV to upload and read (csv_file_reader).")] = None,
    video: Annotated[Path | None, typer.Option("--video", help="A local video to upload and read (video_file_reader).")] = None,
    rtsp: Annotated[str | None, typer.Option("--rtsp", metavar="URL", help="An rtsp:// camera (rtsp_video_reader).")] = None,
    file_id: Annotated[str | None, typer.Option("--file-id", help="An uploaded file (reader chosen by its extension).")] = None,
    set_: SetOpt = None,
    keep: Annotated[bool, typer.Option("--keep", help="Leave the session running and print its id.")] = False,
    json_: JsonOpt = False,
    meta: MetaOpt = False,
    envelope: EnvelopeOpt = False,
    types: TypesOpt = None,
    max_events: MaxEventsOpt = None,
    timeout: TimeoutOpt = None,
    heartbeat: HeartbeatOpt = 5.0,
) -> None:
    """Run a lens over one input and print its results, cleaning up after itself."""
    event, upload = input_event(csv, video, rtsp, file_id, parse_set(set_))
    st = state(ctx)
    out = st.output(json_)
    api = st.api(out)
    opts = FollowOptions(json_, meta, envelope, types, max_events, timeout, None, st.client_id(), heartbeat, "sse")
    if upload is not None:
        with out.progress(f"uploading {upload.name}", upload.stat().st_size) as update:
            api.upload_file(upload, progress=update)
    record = api.create_session(lens_id)
    session_id = record["session_id"]
    try:
        with out.spinner(f"waiting for {session_id} to be RUNNING"):
            record = api.wait_running(session_id, timeout if timeout else 60.0)
        if not sse_writer(record.get("lens_config")):
            check_valid(api.session_event(session_id, "output_stream.set",
                                          {"stream_type": DEFAULT_SSE_WRITER, "stream_config": {}}), "output_stream.set")
            out.info(f"attached {DEFAULT_SSE_WRITER} (the lens has no SSE writer)")
            record = api.session_status(session_id)

        def start_input() -> None:
            check_valid(api.session_event(session_id, "input_stream.set", event), "input_stream.set")
            out.info(f"input: {event['stream_type']} {event['stream_config'].get('file_id') or event['stream_config'].get('rtsp_url')}")

        follow_output(out, api, record, opts, on_open=start_input)
    finally:
        if keep:
            out.info(f"kept session {session_id} running: `atai session destroy {session_id}` when done")
        else:
            _destroy_quietly(api, out, session_id)
    if keep and not (json_ or meta or not out.stdout_tty):
        out.text(session_id)  # on a pipe stdout holds the events; the id was said on stderr


def _destroy_quietly(api, out, session_id: str) -> None:
    try:
        api.destroy_session(session_id)
        out.info(f"destroyed {session_id}")
    except BaseException as exc:  # cleanup must not hide the real outcome (or a second Ctrl-C)
        out.warn(f"could not destroy {session_id}: {getattr(exc, 'message', exc)}; run `atai session destroy {session_id}`")
