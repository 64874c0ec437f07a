"""The live view of `atai tail` on many sessions: a row per session above the latest events.

Rows stay in the order the sessions were first seen, and column widths come from the
terminal's width and the ids (never from what the cells hold at the moment), so nothing jumps
between redraws. Ids are whole everywhere, in the rows and in the event lines alike; when the
terminal is too narrow for more, columns drop through the same table layer as every other
table (`output/tables.py`). Every session keeps one colour for its id, chosen by a hash of the
id, so it is the same in every run and on every machine. A session whose lens answers with
states gets a short strip of its recent states, so a glance finds the machine that changed.
"""

from __future__ import annotations

import time
import zlib
from collections import deque
from dataclasses import dataclass, field

from rich.cells import cell_len

from atai_cli.output.formats import summary
from atai_cli.output.live import RateMeter, RedrawnView, event_time, state_text
from atai_cli.output.state_view import StateHistory, short_result
from atai_cli.output.tables import Spec, fit, rich_table
from atai_cli.protocol.events import OutputEvent, StreamStatus

PALETTE = (
    "cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan", "bright_magenta",
    "bright_green", "bright_yellow", "bright_blue", "orange1", "orchid", "spring_green2", "deep_sky_blue1",
    "gold1",
)
MAX_EVENTS = 200


def session_colour(session_id: str) -> str:
    return PALETTE[zlib.crc32(session_id.encode("utf-8")) % len(PALETTE)]


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
    history: StateHistory = field(default_factory=StateHistory)


class FleetView(RedrawnView):
    NOTES = 3

    def __init__(self, console, svg=None, session_ids: list[str] | None = None) -> None:
        super().__init__(console, svg)
        self.rows: dict[str, _Row] = {}
        self.events: deque[tuple[str, str, str, str]] = deque(maxlen=MAX_EVENTS)
        self.total = 0
        self.meter = RateMeter()
        self.id_width = 10  # the widest session id seen: only grows, so columns stay put
        self.lens_width = 4
        for session_id in session_ids or []:  # the order the user gave them, from the start
            self._row(session_id)

    def title(self) -> str:
        return "atai tail"

    def _row(self, session_id: str) -> _Row:
        row = self.rows.get(session_id)
        if row is None:
            row = self.rows[session_id] = _Row(session_id)
            self.id_width = max(self.id_width, cell_len(session_id))
        return row

    # -- what the fleet tells it --------------------------------------------------------
    def session_started(self, outcome) -> None:
        with self._lock:
            row = self._row(outcome.session_id)
            row.lens_id, row.channel, row.state, row.style, row.ended = outcome.lens_id or "-", outcome.channel or "-", "connecting", "yellow", False
            self.lens_width = max(self.lens_width, cell_len(row.lens_id))
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
            if not event.envelope:
                row.history.add(event.payload, at=event_time(event))
            self.id_width = max(self.id_width, cell_len(event.session_id))
            text = short_result(event.payload) or summary(event.data, 300)
            self.events.append((event.session_id, time.strftime("%H:%M:%S", time.localtime(event_time(event))),
                                event.kind, text))

    # -- drawing ------------------------------------------------------------------------
    def specs(self, width: int, strips: bool) -> list[tuple[str, Spec, str]]:
        """The session columns: (name, spec, justify), widths from the terminal and the ids."""
        columns = [
            ("SESSION", Spec("SESSION", self.id_width, self.id_width, 100, keep=True), "left"),
            ("LENS", Spec("LENS", self.lens_width, self.lens_width, 40), "left"),
            ("CHANNEL", Spec("CHANNEL", 7, 7, 35), "left"),
            ("STATE", Spec("STATE", 16, 9, 90), "left"),
            ("EVENTS", Spec("EVENTS", 6, 6, 80), "right"),
            ("EV/S", Spec("EV/S", 5, 5, 50), "right"),
            ("LAST EVENT", Spec("LAST EVENT", 24, 14, 45), "left"),
            ("RECONNECTS", Spec("RECONNECTS", 10, 10, 20), "left"),
        ]
        if strips:
            columns.insert(4, ("RECENT", Spec("RECENT", 12, 6, 85), "left"))
        return columns

    def frame(self, width: int, height: int):
        from rich.console import Group
        from rich.text import Text

        now = time.monotonic()
        with self._lock:
            rows = list(self.rows.values())  # first-seen order, always
            events = list(self.events)
            notes = list(self.notes)
            total = self.total
            rate = self.meter.rate(now)
            strips = any(r.history.kind == "state" for r in rows)
            active = sum(1 for r in rows if not r.ended)
            columns = self.specs(width, strips)
            layout = fit([spec for _, spec, _ in columns], width)
            if layout is None:
                return _ids_alone(rows, width, height)
            head = Text.assemble(("atai tail ", "bold"), f"{active} following, {len(rows) - active} ended  ",
                                 (f"{total} events  {rate:.1f}/s", "dim"), no_wrap=True, overflow="ellipsis")
            parts: list = [head, *(Text(n, style="yellow", no_wrap=True, overflow="ellipsis") for n in notes)]

            # Half the height for sessions (at least one row), the rest for events.
            session_room = max(1, min(len(rows), (height - len(parts)) // 2 - 2))
            if len(rows) > session_room:
                session_room = max(1, session_room - 1)  # a line for "… N more"
            shown = _pick(rows, session_room)
            names = [columns[i][0] for i, _ in layout]
            widths = {columns[i][0]: w for i, w in layout}
            cells = [self._cells(row, now, widths.get("RECENT", 0)) for row in shown]
            table = rich_table(names, [w for _, w in layout], [[c[name] for name in names] for c in cells],
                               justify=[columns[i][2] for i, _ in layout])
        parts.append(table)
        hidden = len(rows) - len(shown)
        if hidden > 0:
            parts.append(Text(f"… {hidden} more sessions", style="dim"))

        room = height - len(parts) - len(shown) - 3
        if room > 0 and events:
            parts.append(Text("latest events", style="bold"))
            for sid, clock, kind, data in events[-room:]:
                line = Text(no_wrap=True, overflow="ellipsis")
                line.append(sid, style=session_colour(sid))
                # Narrower, the data matters more than its time, and its time more than its type.
                if width >= self.id_width + 25:
                    line.append(f" {clock}", style="dim")
                if width >= self.id_width + 60:
                    line.append(f" {kind}", style="bold")
                line.append(f" {data}")
                parts.append(line)
        elif not events:
            parts.append(Text("no events: every session ended" if rows and not active else "waiting for the first event…",
                              style="dim"))
        return Group(*parts)

    def _cells(self, row: _Row, now: float, strip_width: int) -> dict:
        from rich.text import Text

        return {
            "SESSION": Text(row.session_id, style=session_colour(row.session_id)),
            "LENS": row.lens_id,
            "CHANNEL": row.channel,
            "STATE": Text(row.state, style=row.style),
            "RECENT": row.history.strip(strip_width) if row.history.kind == "state" else "-",
            "EVENTS": str(row.events),
            "EV/S": f"{row.meter.rate(now):.1f}",
            "LAST EVENT": row.last_event if not row.last_at else f"{row.last_event} {now - row.last_at:.0f}s ago",
            "RECONNECTS": str(row.reconnects),
        }


def _ids_alone(rows: list[_Row], width: int, height: int):
    """Narrower than an id: the ids alone, one per line, whole (folded, never cut), as many as fit."""
    from rich.console import Group
    from rich.text import Text

    per_id = max(1, -(-max(cell_len(r.session_id) for r in rows) // max(1, width))) if rows else 1
    room = max(1, (height - 1) // per_id) if len(rows) * per_id > height else len(rows)
    shown = _pick(rows, room)
    lines = [Text(r.session_id, style=session_colour(r.session_id), overflow="fold") for r in shown]
    if len(rows) > len(shown):
        lines.append(Text(f"+{len(rows) - len(shown)} more sessions", style="dim", no_wrap=True, overflow="crop"))
    return Group(*lines)


def _pick(rows: list[_Row], room: int) -> list[_Row]:
    """The rows that fit, in first-seen order: the sessions still followed before ended ones."""
    if len(rows) <= room:
        return rows
    chosen = {id(r) for r in [r for r in rows if not r.ended][:room]}
    chosen |= {id(r) for r in [r for r in rows if r.ended][:room - len(chosen)]}
    return [r for r in rows if id(r) in chosen]
