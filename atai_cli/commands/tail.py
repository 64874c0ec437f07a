"""atai tail: follow the output of one session, several, or every session of a lens, live."""

from __future__ import annotations

from typing import Annotated

import typer

from atai_cli.commands import complete
from atai_cli.commands.following import Follow, follow_flags
from atai_cli.commands.options import (
    ChangesOnlyOpt, ChannelOpt, CursorFileOpt, EnvelopeOpt, ExecOpt, ForwardSecretOpt, ForwardTimeoutOpt,
    ForwardToOpt, GiveUpOpt, HeartbeatOpt, IdleExitOpt, InsecureForwardOpt, JsonOpt, MaxEventsOpt, MetaOpt,
    RecordAppendOpt, RecordOpt, TimeoutOpt, TypesOpt, state,
)
from atai_cli.errors import UsageError


def tail(
    ctx: typer.Context,
    session_ids: Annotated[list[str] | None, typer.Argument(metavar="SESSION_ID...", help="The sessions to follow.",
                                                            autocompletion=complete.session_ids, show_default=False)] = None,
    lens: Annotated[list[str] | None, typer.Option("--lens", metavar="LENS_ID", help="Every session of this lens, and each new one (repeatable).",
                                                   autocompletion=complete.lens_ids)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every session, and each new one.")] = False,
    discover_interval: Annotated[float, typer.Option("--discover-interval", metavar="S", min=0.1, help="How often --lens/--all look for new sessions.")] = 5.0,
    channel: ChannelOpt = "auto",
    json_: JsonOpt = False,
    meta: MetaOpt = False,
    envelope: EnvelopeOpt = False,
    types: TypesOpt = None,
    max_events: MaxEventsOpt = None,
    timeout: TimeoutOpt = None,
    idle_exit: IdleExitOpt = None,
    since: Annotated[str | None, typer.Option("--since", metavar="ID", help="Resume after this event id: the SSE id, or the mailbox position (one session).")] = None,
    client_id: Annotated[str | None, typer.Option("--client-id", metavar="ID", help="session.read cursor id (read channel); default: a new one for each run.")] = None,
    heartbeat: HeartbeatOpt = 5.0,
    give_up_after: GiveUpOpt = None,
    cursor_file: CursorFileOpt = None,
    forward_to: ForwardToOpt = None,
    forward_secret: ForwardSecretOpt = None,
    forward_timeout: ForwardTimeoutOpt = 10.0,
    insecure_forward: InsecureForwardOpt = False,
    exec_: ExecOpt = None,
    changes_only: ChangesOnlyOpt = None,
    record: RecordOpt = None,
    record_append: RecordAppendOpt = False,
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
    flags = follow_flags(locals())
    st = state(ctx)
    follow = Follow(st, flags, fleet_mode=len(ids) > 1 or selecting)
    api = st.api(**({"give_up_after": give_up_after} if give_up_after else {}))
    discover = None
    if selecting:
        wanted = set(lens or [])
        for lens_id in wanted:
            api.get_lens(lens_id)  # an unknown lens is exit 4, before anything starts
        discover = lambda: [s for s in api.list_sessions() if all_ or s.get("lens_id") in wanted]  # noqa: E731
    follow.run(api, ids, discover=discover)
    follow.conclude()
