"""`atai session list --watch`: a table redrawn in place on a terminal; off it (or with
--json), one JSON line per change: {"change": "added"|"updated"|"removed", "session": {...}},
"updated" only when the session's status changed."""

from __future__ import annotations

import time
from typing import Callable, Sequence

from atai_cli.output import Column, Output
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
    from rich.live import Live
    from rich.text import Text

    from atai_cli.output.tables import terminal_table

    order: dict[str, int] = {}  # first-seen order, so a row keeps its place between refreshes

    def render(rows: list[dict], error: str | None):
        for row in rows:
            order.setdefault(str(row.get("session_id")), len(order))
        rows = sorted(redact(rows), key=lambda row: order[str(row.get("session_id"))])
        title = f"sessions ({len(rows)}), every {interval:g}s" + (f"  {error}" if error else "")
        if not rows:
            return Text(title + "\nno active sessions", style="dim")
        return terminal_table(rows, columns, out.console.size.width, title=title, fold=True)

    rows: list[dict] = []
    with Live(render(rows, None), console=out.console, refresh_per_second=4, transient=False) as live:
        while True:
            error = None
            try:
                rows = fetch()
            except Exception as exc:  # noqa: BLE001 - keep watching through a blip, and say so
                error = f"(refresh failed: {getattr(exc, 'message', exc)})"
            live.update(render(rows, error))
            time.sleep(interval)
