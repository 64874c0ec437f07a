"""The live view of `atai tail` on many sessions: a row per session above the latest events.

Every session keeps one colour for its id, chosen by a hash of the id, so it is the same in
every run and on every machine. The view fits whatever terminal it gets: fewer columns when
narrow, fewer session rows when short (the most recently active first, then "… N more"),
and never an exception for a tiny window.
"""

from __future__ import annotations

import time
import zlib
from collections import deque
from dataclasses import dataclass, field

from atai_cli.output.formats import summary
from atai_cli.output.live import RateMeter, RedrawnView, state_text
from atai_cli.protocol.records import OutputEvent, StreamStatus

PALETTE = (
    "cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan", "bright_magenta",
    "bright_green", "bright_yellow", "bright_blue", "orange1", "orchid", "spring_green2", "deep_sky_blue1",
    "gold1",
)
MAX_EVENTS = 200


def session_colour(session_id: str) -> str:
    return PALETTE[zlib.crc32(session_id.encode("utf-8")) % len(PALETTE)]


def short_id(session_id: str, width: int = 14) -> str:
    """Ids share their date prefix (lsn-YYMMDD...): keep the distinctive tail when shortening."""
    if len(session_id) <= width:
        return session_id
    return "…" + session_id[-(width - 1):]


@dataclass
class _Row:
    session_id: str
    lens_id: str = "-"
    channel: str = "-"
    state: str = "starting"
    style: str = "yellow"
    events: int = 0
    last_event: str = "-"
    last_at: float = 0.0
    reconnects: int = 0
    meter: RateMeter = field(default_factory=RateMeter)
    ended: bool = False


class FleetView(RedrawnView):
    NOTES = 3

    def __init__(self, console) -> None:
        super().__init__(console)
        self.rows: dict[str, _Row] = {}
        self.events: deque[tuple[str, str, str, str]] = deque(maxlen=MAX_EVENTS)
        self.total = 0
        self.meter = RateMeter()

    def _row(self, session_id: str) -> _Row:
        row = self.rows.get(session_id)
        if row is None:
            row = self.rows[session_id] = _Row(session_id)
        return row

    # -- what the fleet tells it --------------------------------------------------------
    def session_started(self, outcome) -> None:
        with self._lock:
            row = self._row(outcome.session_id)
            row.lens_id, row.channel, row.state, row.style, row.ended = outcome.lens_id or "-", outcome.channel or "-", "connecting", "yellow", False
            for warning in getattr(outcome, "warnings", []):
                self.notes.append(f"{outcome.session_id}: {warning}")

    def session_ended(self, outcome) -> None:
        with self._lock:
            row = self._row(outcome.session_id)
            row.ended = True
            row.lens_id = outcome.lens_id or row.lens_id
            row.state = ("failed: " if outcome.failed else "ended: ") + (outcome.reason or "")
            row.style = "red" if outcome.failed else "dim"

    def status_changed(self, outcome, status: StreamStatus) -> None:
        with self._lock:
            row = self._row(outcome.session_id)
            if not row.ended:
                row.state, row.style = state_text(status)
            row.reconnects = status.reconnects

    def add(self, event: OutputEvent) -> None:
        now = time.monotonic()
        with self._lock:
            self.total += 1
            self.meter.tick(now)
            row = self._row(event.session_id)
            row.events += 1
            row.meter.tick(now)
            row.last_event = event.kind
            row.last_at = now
            self.events.append((event.session_id, time.strftime("%H:%M:%S"), event.kind, summary(event.data, 300)))

    # -- drawing ------------------------------------------------------------------------
    def frame(self, width: int, height: int):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        now = time.monotonic()
        with self._lock:
            rows = sorted(self.rows.values(), key=lambda r: (r.ended, -r.last_at, r.session_id))
            events = list(self.events)
            notes = list(self.notes)
            total = self.total
            rate = self.meter.rate(now)
        active = sum(1 for r in rows if not r.ended)
        head = Text.assemble(("atai tail ", "bold"), f"{active} following, {len(rows) - active} ended  ",
                             (f"{total} events  {rate:.1f}/s", "dim"), no_wrap=True, overflow="ellipsis")
        parts: list = [head, *(Text(n, style="yellow", no_wrap=True, overflow="ellipsis") for n in notes)]

        # Half the height for sessions (at least one row), the rest for events.
        session_room = max(1, min(len(rows), (height - len(parts)) // 2 - 2))
        shown, hidden = rows[:session_room], len(rows) - session_room
        columns = _columns_for(width)
        id_width = 34 if width >= 150 else 18 if width >= 100 else 14
        table = Table(show_header=True, header_style="bold", box=None, padding=(0, 1), expand=False)
        for name, kwargs in columns:
            table.add_column(name, no_wrap=True, overflow="ellipsis", **kwargs)
        for row in shown:
            cells = {
                "SESSION": Text(short_id(row.session_id, id_width), style=session_colour(row.session_id)),
                "LENS": short_id(row.lens_id, 22),
                "CHANNEL": row.channel,
                "STATE": Text(row.state, style=row.style),
                "EVENTS": str(row.events),
                "EV/S": f"{row.meter.rate(now):.1f}",
                "LAST EVENT": row.last_event if not row.last_at else f"{row.last_event} {now - row.last_at:.0f}s ago",
                "RECONNECTS": str(row.reconnects),
            }
            table.add_row(*(cells[name] for name, _ in columns))
        parts.append(table)
        if hidden > 0:
            parts.append(Text(f"… {hidden} more sessions", style="dim"))

        room = height - len(parts) - session_room - 2
        if room > 0 and events:
            parts.append(Text("latest events", style="bold"))
            for sid, clock, kind, data in events[-room:]:
                line = Text(no_wrap=True, overflow="ellipsis")
                line.append(short_id(sid, id_width), style=session_colour(sid))
                if width >= 70:
                    line.append(f" {clock}", style="dim")
                line.append(f" {kind} ", style="bold")
                line.append(data)
                parts.append(line)
        elif not events:
            parts.append(Text("waiting for the first event…", style="dim"))
        return Group(*parts)


def _columns_for(width: int) -> list[tuple[str, dict]]:
    """Which session columns fit: the essential ones first, the rest as width allows."""
    columns = [("SESSION", {}), ("STATE", {"min_width": 9, "max_width": 36}), ("EVENTS", {"justify": "right"})]
    if width >= 60:
        columns.insert(1, ("CHANNEL", {}))
        columns.append(("EV/S", {"justify": "right"}))
    if width >= 90:
        columns.append(("LAST EVENT", {}))
    if width >= 110:
        columns.insert(1, ("LENS", {"max_width": 24}))
        columns.append(("RECONNECTS", {"justify": "right"}))
    return columns
