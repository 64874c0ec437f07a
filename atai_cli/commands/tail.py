"""atai tail: follow a session's output live, on whichever channel it uses."""

from __future__ import annotations

from typing import Annotated

import typer

from atai_cli.commands._common import SessionIdArg, JsonOpt, state
from atai_cli.commands._follow import (
    ChannelOpt, EnvelopeOpt, FollowOptions, HeartbeatOpt, MaxEventsOpt, MetaOpt, TimeoutOpt, TypesOpt, follow_output,
)


def tail(
    ctx: typer.Context,
    session_id: SessionIdArg,
    channel: ChannelOpt = "auto",
    json_: JsonOpt = False,
    meta: MetaOpt = False,
    envelope: EnvelopeOpt = False,
    types: TypesOpt = None,
    max_events: MaxEventsOpt = None,
    timeout: TimeoutOpt = None,
    since: Annotated[str | None, typer.Option("--since", metavar="ID", help="Resume after this SSE event id.")] = None,
    client_id: Annotated[str | None, typer.Option("--client-id", help="session.read cursor id (read channel).")] = None,
    heartbeat: HeartbeatOpt = 5.0,
) -> None:
    """Follow a session's output live; never loses or repeats an event across reconnects.

    On a terminal: a live view. Piped, or with --json: one JSON line per event, the event's
    data exactly as the server sent it. Ends (exit 0) on sse.stream.end or when the session
    is destroyed; Ctrl-C exits 130 and prints how to resume.
    """
    st = state(ctx)
    out = st.output(json_)
    api = st.api(out)
    opts = FollowOptions(json_, meta, envelope, types, max_events, timeout, since, client_id or st.client_id(), heartbeat, channel)
    with out.spinner(f"waiting for {session_id} to be RUNNING"):
        record = api.wait_running(session_id, timeout if timeout else 60.0)
    follow_output(out, api, record, opts)
