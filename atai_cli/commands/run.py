"""atai run: the whole flow every Archetype AI demo writes by hand, in one command.

create a session -> wait for RUNNING -> attach an SSE writer if the lens has none -> upload the
input -> open the output channel and wait for sse.stream.start (outputs are live-only) ->
set the input stream -> print the output until the stream ends (or the input's results stop
coming) -> destroy the session, also on Ctrl-C and on errors (unless --keep).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from atai_cli.commands.following import Follow
from atai_cli.commands.inputs import parse_set, require_csv, require_file
from atai_cli.commands.options import (
    ChangesOnlyOpt, EnvelopeOpt, ExecOpt, ForwardSecretOpt, ForwardTimeoutOpt, ForwardToOpt, HeartbeatOpt,
    InsecureForwardOpt, JsonOpt, LensIdArg, MaxEventsOpt, MetaOpt, RecordAppendOpt, RecordOpt, SvgOpt,
    SetOpt, TimeoutOpt, TypesOpt, app_state, finite,
)
from atai_cli.errors import UsageError
from atai_cli.pipeline.follow_options import FOLLOW_DEFAULTS as DEFAULTS
from atai_cli.pipeline.follow_options import FollowFlags
from atai_cli.protocol import streams


def choose_input(csv: Path | None, video: Path | None, rtsp: str | None, file_id: str | None,
                 extra: dict) -> tuple[str, dict, Path | None] | None:
    """(stream type, stream_config, local file to upload first), or None for no input flag."""
    given = [x for x in (csv, video, rtsp, file_id) if x]
    if len(given) > 1:
        raise UsageError("give one input: --csv FILE, --video FILE, --rtsp URL or --file-id ID")
    if not given:
        return None
    if csv:
        path = require_csv(csv)
        return streams.CSV_READER, streams.input_config(streams.CSV_READER, file_id=path.name, extra=extra), path
    if video:
        path = require_file(video, "video file")
        return streams.VIDEO_READER, streams.input_config(streams.VIDEO_READER, file_id=path.name, extra=extra), path
    if rtsp:
        return streams.RTSP_READER, streams.input_config(streams.RTSP_READER, rtsp_url=rtsp, extra=extra), None
    kind = streams.reader_for(str(file_id))
    return kind, streams.input_config(kind, file_id=file_id, extra=extra), None


def run(
    ctx: typer.Context,
    lens_id: LensIdArg,
    csv: Annotated[Path | None, typer.Option("--csv", metavar="FILE", help="A local CSV to upload and read (csv_file_reader).")] = None,
    video: Annotated[Path | None, typer.Option("--video", metavar="FILE", help="A local video to upload and read (video_file_reader).")] = None,
    rtsp: Annotated[str | None, typer.Option("--rtsp", metavar="URL", help="An rtsp:// camera (rtsp_video_reader).")] = None,
    file_id: Annotated[str | None, typer.Option("--file-id", metavar="FILE_ID", help="An uploaded file (reader chosen by its extension).")] = None,
    set_: SetOpt = None,
    keep: Annotated[bool, typer.Option("--keep", help="Leave the session running and print its id.")] = False,
    json_: JsonOpt = False,
    meta: MetaOpt = DEFAULTS.meta,
    envelope: EnvelopeOpt = DEFAULTS.envelope,
    types: TypesOpt = DEFAULTS.types,
    max_events: MaxEventsOpt = DEFAULTS.max_events,
    timeout: TimeoutOpt = DEFAULTS.timeout,
    idle_exit: Annotated[float | None, typer.Option("--idle-exit", metavar="S", callback=finite, min=0,
                                                    help=f"Stop (exit 0) after S seconds without a lens output event; default {DEFAULTS.file_idle_exit:g} for a file input, 0 = wait for the stream's end.")] = DEFAULTS.idle_exit,
    heartbeat: HeartbeatOpt = DEFAULTS.heartbeat,
    forward_to: ForwardToOpt = DEFAULTS.forward_to,
    forward_secret: ForwardSecretOpt = DEFAULTS.forward_secret,
    forward_timeout: ForwardTimeoutOpt = DEFAULTS.forward_timeout,
    insecure_forward: InsecureForwardOpt = DEFAULTS.insecure_forward,
    exec_: ExecOpt = DEFAULTS.exec_,
    changes_only: ChangesOnlyOpt = DEFAULTS.changes_only,
    record: RecordOpt = DEFAULTS.record,
    record_append: RecordAppendOpt = DEFAULTS.record_append,
    svg: SvgOpt = DEFAULTS.svg,
) -> None:
    """Run a lens over one input and print its results, cleaning up after itself.

    With no input flag, the lens must declare its input (lens_config.input_streams): run just
    follows it.
    """
    chosen = choose_input(csv, video, rtsp, file_id, parse_set(set_))
    state = app_state(ctx)
    out = state.out
    api = state.api()
    lens = api.get_lens(lens_id)
    declared = streams.declared_inputs(lens.get("lens_config"))
    if chosen is None and not declared:
        raise UsageError("give one input: --csv FILE, --video FILE, --rtsp URL or --file-id ID",
                         hint=f"{lens_id} declares no input_streams of its own")
    inputs = [chosen[0]] if chosen else [s["stream_type"] for s in declared]
    if idle_exit is None and any(kind in streams.FILE_READERS for kind in inputs):
        idle_exit = DEFAULTS.file_idle_exit
    flags = FollowFlags(
        channel="sse", meta=meta, envelope=envelope, types=types, max_events=max_events, timeout=timeout,
        idle_exit=idle_exit or None, heartbeat=heartbeat, forward_to=forward_to, forward_secret=forward_secret,
        forward_timeout=forward_timeout, insecure_forward=insecure_forward, exec_=exec_, changes_only=changes_only,
        record=record, record_append=record_append, svg=svg,
    )
    follow = Follow(state, flags, fleet_mode=False, command="atai run")
    if chosen and chosen[2] is not None:
        upload = chosen[2]
        with out.progress(f"uploading {upload.name}", upload.stat().st_size) as update:
            api.upload_file(upload, progress=update)
    session_record = api.create_session(lens_id)
    session_id = session_record["session_id"]
    try:
        with out.spinner(f"waiting for {session_id} to be RUNNING"):
            session_record = api.wait_running(session_id, flags.running_wait())
        from atai_cli.protocol.channels import sse_writer

        if not sse_writer(session_record.get("lens_config")):
            api.set_output(session_id)
            out.info(f"attached {streams.SSE_WRITER} (the lens has no SSE writer)")

        def start_input() -> None:
            if chosen is None:
                out.info("input: " + ", ".join(streams.describe_input(s) for s in declared) + " (declared by the lens)")
                return
            api.set_input(session_id, chosen[0], chosen[1])
            out.info(f"input: {streams.describe_input(streams.stream_event(chosen[0], chosen[1]))}")

        follow.run(api, [session_id], on_open=start_input)
        follow.conclude(destroyed=not keep)
    finally:
        if keep:
            out.info(f"kept session {session_id} running: `atai session destroy {session_id}` when done")
        else:
            _destroy_quietly(api, out, session_id)
    if keep and follow.live:
        out.text(session_id)  # on a pipe stdout holds the events; the id was said on stderr


def _destroy_quietly(api, out, session_id: str) -> None:
    try:
        api.destroy_session(session_id)
        out.info(f"destroyed {session_id}")
    except BaseException as exc:  # cleanup must not hide the real outcome (or a second Ctrl-C)
        out.warn(f"could not destroy {session_id}: {getattr(exc, 'message', exc)}; run `atai session destroy {session_id}`")
