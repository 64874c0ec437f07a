"""`atai session list --watch`: a table redrawn in place on a terminal; off it (or with
--json), one JSON line per change: {"change": "added"|"updated"|"removed", "session": {...}},
"updated" only when the session's status changed."""

from __future__ import annotations

import time
from typing import Callable, Sequence

from atai_cli.output import Column, Output
from atai_cli.output.live import RedrawnView
from atai_cli.protocol.redact import redact

# The one field whose change is worth a line (contract v3): counts and timestamps move on every
# poll of a running session, and a line per poll per session is noise, not a change.
WATCHED = ("session_status",)


def changes(before: dict[str, dict], after: dict[str, dict]) -> list[dict]:
    found = []
    for sid, record in after.items():
        old = before.get(sid)
        if old is None:
            found.append({"change": "added", "session": record})
        elif any(old.get(k) != record.get(k) for k in WATCHED):
            found.append({"change": "updated", "session": record,
                          "fields": [k for k in WATCHED if old.get(k) != record.get(k)]})
    for sid, record in before.items():
        if sid not in after:
            found.append({"change": "removed", "session": record})
    return found


def watch_sessions(out: Output, fetch: Callable[[], list[dict]], columns: Sequence[Column], interval: float) -> None:
    """Until Ctrl-C (KeyboardInterrupt reaches the boundary: exit 130)."""
    if out.mode == "tty":
        _watch_table(out, fetch, columns, interval)
        return
    writer = out.jsonl()
    seen: dict[str, dict] = {}
    while True:
        current = {r["session_id"]: r for r in fetch() if r.get("session_id")}
        for change in changes(seen, current):
            writer.write_object(redact(change))
        seen = current
        time.sleep(interval)


def _watch_table(out: Output, fetch: Callable[[], list[dict]], columns: Sequence[Column], interval: float) -> None:
    view = WatchView(out.console, columns, interval)

    def refresh() -> None:
        try:
            view.update(fetch(), None)
        except Exception as exc:  # noqa: BLE001 - keep watching through a blip, and say so
            view.update(None, f"(refresh failed: {getattr(exc, 'message', exc)})")

    refresh()  # the first frame already has the sessions
    with view:
        while True:
            time.sleep(interval)
            refresh()


class WatchView(RedrawnView):
    """The session table, redrawn like the `tail` views (`RedrawnView`): each frame for the
    terminal's size at that moment, on a clean screen after a resize. Rows keep the order the
    sessions were first seen; more rows than fit end in `… N more sessions`."""

    def __init__(self, console, columns: Sequence[Column], interval: float) -> None:
        super().__init__(console)
        self.columns = columns
        self.interval = interval
        self.rows: list[dict] = []
        self.error: str | None = None
        self.order: dict[str, int] = {}  # first-seen order, so a row keeps its place between refreshes

    def title(self) -> str:
        return "atai session list --watch"

    def update(self, rows: list[dict] | None, error: str | None) -> None:
        with self._lock:
            if rows is not None:
                for row in rows:
                    self.order.setdefault(str(row.get("session_id")), len(self.order))
                self.rows = sorted(redact(rows), key=lambda row: self.order[str(row.get("session_id"))])
            self.error = error

    def frame(self, width: int, height: int):
        from rich.cells import cell_len
        from rich.console import Group
        from rich.text import Text

        from atai_cli.output.tables import terminal_table

        with self._lock:
            rows, error = list(self.rows), self.error
        title = f"sessions ({len(rows)}), every {self.interval:g}s" + (f"  {error}" if error else "")
        if not rows:
            return Text(title + "\nno active sessions", style="dim")
        widest = max(cell_len(self.columns[0].render(row)) for row in rows)
        if widest > width:  # the ids alone, each folded over as many lines as it needs
            per_row, chrome = -(-widest // width), 1
        else:
            per_row, chrome = 1, 3  # the title, the header and its rule
        room = max(1, (height - chrome) // per_row)
        if len(rows) > room:
            room = max(1, room - 1)  # a line for "… N more sessions"
        table = terminal_table(rows[:room], self.columns, width, title=title, fold=True)
        hidden = len(rows) - room
        if hidden <= 0:
            return table
        return Group(table, Text(f"… {hidden} more sessions", style="dim", no_wrap=True, overflow="ellipsis"))
