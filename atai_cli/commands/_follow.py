"""Following a session's output and printing it: shared by `atai tail` and `atai run`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any, Callable

import typer

from atai_cli.errors import Interrupted, OperationTimeout

# The output options tail and run share.
ChannelOpt = Annotated[str, typer.Option("--channel", help="auto (from the lens config), sse, or read.")]
MetaOpt = Annotated[bool, typer.Option("--meta", help='Wrap each event as {"id", "event", "channel", "data"}.')]
EnvelopeOpt = Annotated[bool, typer.Option("--envelope", help="Also print sse.stream.start/heartbeat/end.")]
TypesOpt = Annotated[list[str] | None, typer.Option("--type", metavar="T", help="Only these event types (repeatable).")]
MaxEventsOpt = Annotated[int | None, typer.Option("--max-events", metavar="N", min=1, help="Stop after N printed events.")]
TimeoutOpt = Annotated[float | None, typer.Option("--timeout", metavar="S", min=0, help="Stop after S seconds; exit 5 unless the stream ended.")]
HeartbeatOpt = Annotated[float, typer.Option("--heartbeat", metavar="S", min=0.01, help="The server's heartbeat period; 3 silent periods count as a broken stream.")]


@dataclass
class FollowOptions:
    json_: bool = False
    meta: bool = False
    envelope: bool = False
    types: list[str] | None = None
    max_events: int | None = None
    timeout: float | None = None
    since: str | None = None
    client_id: str = ""
    heartbeat: float = 5.0
    channel: str = "auto"

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.timeout if self.timeout else None


def follow_output(out, api, record: dict, opts: FollowOptions, *, on_open: Callable[[], Any] | None = None,
                  command: str = "atai tail") -> int:
    """Print a session's output until it ends (or --max-events); returns how many were printed.

    Ctrl-C and --timeout raise with a hint that says how to resume.
    """
    from atai_cli.client.follow import choose_channel, open_follower
    from atai_cli.output.stream import JsonLinesWriter

    session_id = record["session_id"]
    chosen, why = choose_channel(record, opts.channel)
    out.info(f"following {session_id} on the {chosen} channel ({why})")
    if opts.since and chosen != "sse":
        out.warn("--since applies to the SSE channel only; the read channel resumes by client id")
    view = None
    if not (opts.json_ or opts.meta or not out.stdout_tty):
        from atai_cli.output.live import LiveView

        view = LiveView(out.console, session_id, chosen, why)
    writer = JsonLinesWriter(out.stdout, meta=opts.meta, batched=True)
    follower = open_follower(
        api, record, chosen, since=opts.since, client_id=opts.client_id, liveness=3 * opts.heartbeat,
        deadline=opts.deadline, on_status=view.on_status if view else None, before_wait=writer.flush, on_open=on_open,
    )
    wanted = set(opts.types or [])
    printed = 0
    try:
        with view or _NoView():
            for event in follower:
                if event.envelope and not opts.envelope:
                    continue
                if wanted and (event.type or event.event) not in wanted:
                    continue
                if view is not None:
                    view.add(event)
                elif not writer.write_event(event):
                    out.warn(f"skipped an event whose data is not JSON (id {event.id or '-'}): {str(event.data)[:80]!r}")
                    continue
                printed += 1
                if opts.max_events and printed >= opts.max_events:
                    break
    except KeyboardInterrupt:
        _flush_quietly(writer)
        raise Interrupted("interrupted", hint=_resume_hint(session_id, chosen, follower)) from None
    except OperationTimeout as exc:
        _flush_quietly(writer)
        exc.message = f"--timeout {opts.timeout:g}s reached after {printed} events; the stream had not ended"
        exc.hint = _resume_hint(session_id, chosen, follower)
        raise
    writer.flush()
    if opts.max_events and printed >= opts.max_events:
        out.info(f"stopped after {printed} events (--max-events)")
    else:
        out.info(f"stream ended after {printed} events: {getattr(follower, 'end_reason', '') or 'done'}")
    return printed


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


class _NoView:
    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        return None
