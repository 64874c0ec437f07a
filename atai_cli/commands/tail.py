"""atai tail: follow the output of one session, several, or every session of a lens, live."""

from __future__ import annotations

from typing import Annotated

import typer

from atai_cli.commands import complete
from atai_cli.commands.following import Follow
from atai_cli.commands.options import (
    Channel, ChangesOnlyOpt, ChannelOpt, CursorFileOpt, EnvelopeOpt, ExecOpt, ForwardSecretOpt, ForwardTimeoutOpt,
    ForwardToOpt, GiveUpOpt, HeartbeatOpt, IdleExitOpt, InsecureForwardOpt, JsonOpt, MaxEventsOpt, MetaOpt,
    RecordAppendOpt, RecordOpt, SvgOpt, TimeoutOpt, TypesOpt, app_state, finite,
)
from atai_cli.errors import UsageError
from atai_cli.pipeline.follow_options import FOLLOW_DEFAULTS as DEFAULTS
from atai_cli.pipeline.follow_options import FollowFlags


def tail(
    ctx: typer.Context,
    session_ids: Annotated[list[str] | None, typer.Argument(metavar="SESSION_ID...", help="The sessions to follow.",
                                                            autocompletion=complete.session_ids, show_default=False)] = None,
    lens: Annotated[list[str] | None, typer.Option("--lens", metavar="LENS_ID", help="Every session of this lens, and each new one (repeatable).",
                                                   autocompletion=complete.lens_ids)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every session, and each new one.")] = False,
    discover_interval: Annotated[float, typer.Option("--discover-interval", metavar="S", callback=finite, min=0.1, help="How often --lens/--all look for new sessions.")] = DEFAULTS.discover_interval,
    channel: ChannelOpt = DEFAULTS.channel,
    json_: JsonOpt = False,
    meta: MetaOpt = DEFAULTS.meta,
    envelope: EnvelopeOpt = DEFAULTS.envelope,
    types: TypesOpt = DEFAULTS.types,
    max_events: MaxEventsOpt = DEFAULTS.max_events,
    timeout: TimeoutOpt = DEFAULTS.timeout,
    idle_exit: IdleExitOpt = DEFAULTS.idle_exit,
    since: Annotated[str | None, typer.Option("--since", metavar="ID", help="Resume after this event id: the SSE id, or the mailbox position (one session).")] = DEFAULTS.since,
    client_id: Annotated[str | None, typer.Option("--client-id", metavar="ID", help="session.read cursor id (read channel); default: a new one for each run.")] = DEFAULTS.client_id,
    heartbeat: HeartbeatOpt = DEFAULTS.heartbeat,
    give_up_after: GiveUpOpt = DEFAULTS.give_up_after,
    cursor_file: CursorFileOpt = DEFAULTS.cursor_file,
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
    """Follow sessions' output live; never loses or repeats an event across reconnects.

    On a terminal: a live view. Piped, or with --json: one JSON line per event, the event's
    data exactly as the server sent it (with several sessions, --lens or --all:
    {"session_id", "id", "event", "channel", "type", "payload", "timestamp", "data"}).
    Ends (exit 0) when every session ended (sse.stream.end, destroyed); --lens and --all run
    until Ctrl-C, --timeout or --max-events. Ctrl-C exits 130 and says how to resume.
    """
    ids = list(dict.fromkeys(session_ids or []))
    selecting = bool(lens or all_)
    if ids and selecting:
        raise UsageError("give session ids or --lens/--all, not both")
    if not ids and not selecting:
        raise UsageError("nothing to follow: give one or more session ids, --lens LENS_ID or --all")
    if since and (len(ids) > 1 or selecting):
        raise UsageError("--since resumes one session; for several, use --cursor-file")
    flags = FollowFlags(
        channel=Channel(channel).value, meta=meta, envelope=envelope, types=types,
        max_events=max_events, timeout=timeout, idle_exit=idle_exit, heartbeat=heartbeat, give_up_after=give_up_after,
        since=since, client_id=client_id, cursor_file=cursor_file, forward_to=forward_to,
        forward_secret=forward_secret, forward_timeout=forward_timeout, insecure_forward=insecure_forward,
        exec_=exec_, changes_only=changes_only, record=record, record_append=record_append,
        discover_interval=discover_interval, svg=svg,
    )
    state = app_state(ctx)
    follow = Follow(state, flags, fleet_mode=len(ids) > 1 or selecting)
    api = state.api(**({"give_up_after": give_up_after} if give_up_after else {}))
    discover = None
    if selecting:
        wanted = set(lens or [])
        for lens_id in wanted:
            api.get_lens(lens_id)  # an unknown lens is exit 4, before anything starts
        discover = lambda: [s for s in api.list_sessions() if all_ or s.get("lens_id") in wanted]  # noqa: E731
    follow.run(api, ids, discover=discover)
    follow.conclude()
