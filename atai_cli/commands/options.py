"""Options and arguments the commands share (declarations only), and the state every command starts from."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from atai_cli.commands import complete
from atai_cli.state import AppState


def app_state(ctx: typer.Context) -> AppState:
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


def _json_mode(ctx: typer.Context, value: bool) -> bool:
    """--json on any command decides the output mode once, before the command runs."""
    if value:
        app_state(ctx).json_output = True
    return value


def finite(value: float | None) -> float | None:
    """A float flag is a number of seconds or a rate: inf (also what 1e309 reads as) and nan
    are not, whatever range the flag allows."""
    import math

    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


JsonOpt = Annotated[bool, typer.Option("--json", callback=_json_mode, expose_value=False,
                                       help="Print JSON on stdout (progress and errors stay on stderr).")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="KEY=VALUE", help="Set one field (repeatable); VALUE is parsed as JSON when it parses."),
]
ConfigJsonOpt = Annotated[str | None, typer.Option("--config-json", metavar="JSON", help="A JSON object merged into the config.")]
SessionIdArg = Annotated[str, typer.Argument(metavar="SESSION_ID", help="A session id (lsn-...).", autocompletion=complete.session_ids)]
LensIdArg = Annotated[str, typer.Argument(metavar="LENS_ID", help="A lens id (lns-...).", autocompletion=complete.lens_ids)]
QuietOpt = Annotated[bool, typer.Option("-q", "--quiet", help="Print only the id.")]


class Channel(str, enum.Enum):
    auto = "auto"
    sse = "sse"
    read = "read"


ChannelOpt = Annotated[Channel, typer.Option("--channel", help="auto (from each session's lens config), sse, or read.")]
MetaOpt = Annotated[bool, typer.Option("--meta", help='Wrap each event as {"id", "event", "channel", "type", "payload", "timestamp", "data"}.')]
EnvelopeOpt = Annotated[bool, typer.Option("--envelope", help="Also print sse.stream.start/heartbeat/end.")]
TypesOpt = Annotated[list[str] | None, typer.Option("--type", metavar="TYPE", help="Only these event types (repeatable), e.g. inference.result.")]
MaxEventsOpt = Annotated[int | None, typer.Option("--max-events", metavar="N", min=1, help="Stop after N printed events (all sessions together).")]
TimeoutOpt = Annotated[float | None, typer.Option("--timeout", metavar="S", callback=finite, min=0,
                                                  help="Stop after S seconds, exit 5 unless the stream ended; 0 or unset: no limit.")]
IdleExitOpt = Annotated[float | None, typer.Option("--idle-exit", metavar="S", callback=finite, min=0,
                                                   help="Stop (exit 0) after S seconds without a lens output event; heartbeats do not count.")]
HeartbeatOpt = Annotated[float, typer.Option("--heartbeat", metavar="S", callback=finite, min=0.01, help="The server's heartbeat period; 3 silent periods count as a broken stream.")]
GiveUpOpt = Annotated[float | None, typer.Option("--give-up-after", metavar="S", callback=finite, min=0.01,
                                                 help="Stop reconnecting after S seconds of failures: exit 1 with the resume hint (default: never; setting reconnect_give_up).")]
CursorFileOpt = Annotated[str | None, typer.Option("--cursor-file", metavar="FILE", help="Resume each session from FILE and keep it current (0600).")]
ForwardToOpt = Annotated[str | None, typer.Option("--forward-to", metavar="URL", help="POST each event to URL (http[s]://), or publish it to kafka://HOST:PORT/TOPIC or mqtt[s]://HOST:PORT/TOPIC; signed, in order, retried until delivered.")]
ForwardSecretOpt = Annotated[str | None, typer.Option("--forward-secret", metavar="SECRET", help="Key of the Atai-Signature HMAC (env ATAI_FORWARD_SECRET; default: the profile's).")]
ForwardTimeoutOpt = Annotated[float, typer.Option("--forward-timeout", metavar="S", callback=finite, min=0.1, help="Timeout of each forward attempt.")]
InsecureForwardOpt = Annotated[bool, typer.Option("--insecure-forward", help="Allow plain http to a host that is not loopback.")]
ExecOpt = Annotated[str | None, typer.Option("--exec", metavar="CMD", help="Run `sh -c CMD` per event, the JSON line on stdin (one at a time, in order).")]
ChangesOnlyOpt = Annotated[str | None, typer.Option("--changes-only", metavar="PATH",
                                                    help="Keep an event only when the value at PATH (e.g. event_data.response.0) changed, per session and type.")]
RecordOpt = Annotated[str | None, typer.Option("--record", metavar="FILE", help="Record every received event to FILE (for `atai emulator --replay`).")]
RecordAppendOpt = Annotated[bool, typer.Option("--record-append", help="Add to an existing recording of the same sessions.")]


def _svg_path(value: str | None) -> str | None:
    """Checked while the flags are read, so a bad --svg stops before anything starts (exit 2)."""
    if value:
        from pathlib import Path

        from atai_cli.errors import UsageError

        parent = Path(value).expanduser().parent
        if not parent.is_dir():
            raise UsageError(f"--svg {value}: no such directory {parent}")
        if Path(value).is_dir():
            raise UsageError(f"--svg {value} is a directory; give a file name")
    return value


SvgOpt = Annotated[str | None, typer.Option("--svg", metavar="FILE", callback=_svg_path,
                                            help="On a terminal, save the live view's last frame as an SVG picture in FILE.")]

