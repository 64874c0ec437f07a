"""atai tail: follow a session's output live, on whichever channel it uses."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from atai_cli.commands._common import JsonOpt, state
from atai_cli.errors import Interrupted, OperationTimeout


def tail(
    ctx: typer.Context,
    session_id: str,
    channel: Annotated[str, typer.Option("--channel", help="auto (from the lens config), sse, or read.")] = "auto",
    json_: JsonOpt = False,
    meta: Annotated[bool, typer.Option("--meta", help='Wrap each event as {"id", "event", "channel", "data"}.')] = False,
    envelope: Annotated[bool, typer.Option("--envelope", help="Also print sse.stream.start/heartbeat/end.")] = False,
    types: Annotated[list[str] | None, typer.Option("--type", metavar="T", help="Only these event types (repeatable).")] = None,
    max_events: Annotated[int | None, typer.Option("--max-events", metavar="N", min=1, help="Stop after N printed events.")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", metavar="S", min=0, help="Stop after S seconds; exit 5 unless the stream ended.")] = None,
    since: Annotated[str | None, typer.Option("--since", metavar="ID", help="Resume after this SSE event id.")] = None,
    client_id: Annotated[str | None, typer.Option("--client-id", help="session.read cursor id (read channel).")] = None,
    heartbeat: Annotated[float, typer.Option("--heartbeat", metavar="S", min=0.01, help="The server's heartbeat period; 3 silent periods count as a broken stream.")] = 5.0,
) -> None:
    """Follow a session's output live; never loses or repeats an event across reconnects.

    On a terminal: a live view. Piped, or with --json: one JSON line per event, the event's
    data exactly as the server sent it. Ends (exit 0) on sse.stream.end or when the session
    is destroyed; Ctrl-C exits 130 and prints how to resume.
    """
    from atai_cli.client.follow import choose_channel, open_follower
    from atai_cli.output.stream import JsonLinesWriter

    st = state(ctx)
    out = st.output(json_)
    api = st.api(out)
    deadline = time.monotonic() + timeout if timeout else None
    machine = json_ or meta or not out.stdout_tty

    with out.spinner(f"waiting for {session_id} to be RUNNING"):
        record = api.wait_running(session_id, timeout if timeout else 60.0)
    chosen, why = choose_channel(record, channel)
    out.info(f"following {session_id} on the {chosen} channel ({why})")
    if since and chosen != "sse":
        out.warn("--since applies to the SSE channel only; the read channel resumes by client id")

    view = None
    if not machine:
        from atai_cli.output.live import LiveView

        view = LiveView(out.console, session_id, chosen, why)
    writer = JsonLinesWriter(out.stdout, meta=meta, batched=True)
    follower = open_follower(
        api, record, chosen, since=since, client_id=client_id or st.client_id(), liveness=3 * heartbeat,
        deadline=deadline, on_status=view.on_status if view else None, before_wait=writer.flush,
    )
    wanted = set(types or [])
    printed = 0
    try:
        with view or _nothing():
            for event in follower:
                if event.envelope and not envelope:
                    continue
                if wanted and (event.type or event.event) not in wanted:
                    continue
                if view is not None:
                    view.add(event)
                elif not writer.write_event(event):
                    out.warn(f"skipped an event whose data is not JSON (id {event.id or '-'}): {str(event.data)[:80]!r}")
                    continue
                printed += 1
                if max_events and printed >= max_events:
                    break
    except KeyboardInterrupt:
        _flush_quietly(writer)
        raise Interrupted("interrupted", hint=_resume_hint(session_id, chosen, follower)) from None
    except OperationTimeout as exc:
        _flush_quietly(writer)
        exc.message = f"--timeout {timeout:g}s reached after {printed} events; the stream had not ended"
        exc.hint = _resume_hint(session_id, chosen, follower)
        raise
    writer.flush()
    if max_events and printed >= max_events:
        out.info(f"stopped after {printed} events (--max-events)")
    else:
        out.info(f"stream ended after {printed} events: {getattr(follower, 'end_reason', '') or 'done'}")


def _flush_quietly(writer) -> None:
    try:
        writer.flush()
    except (BrokenPipeError, ValueError):
        pass


def _resume_hint(session_id: str, channel: str, follower) -> str:
    last = getattr(follower, "last_event_id", "")
    if channel == "sse" and last:
        return f"resume with: atai tail {session_id} --since {last}"
    return f"resume with: atai tail {session_id}"


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        return None
