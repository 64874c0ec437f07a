"""The live terminal view of `atai tail`: latest events, counts, rate, connection state.

Rich redraws it at a fixed rate from its own thread; adding an event only updates counters,
so a fast stream is never slowed down by drawing.
"""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from typing import Any

from atai_cli.client.stream import OutputEvent, StreamStatus

MAX_ROWS = 12


def _summary(data: Any, width: int = 100) -> str:
    if isinstance(data, dict):
        inner = data.get("event_data", data.get("data", data))
        if isinstance(inner, dict) and "response" in inner:
            inner = inner["response"]
        text = inner if isinstance(inner, str) else json.dumps(inner, separators=(",", ":"), default=str)
    else:
        text = str(data)
    text = "".join(ch if ch.isprintable() else " " for ch in text)  # no terminal escapes from the server
    return text if len(text) <= width else text[: width - 1] + "…"


class LiveView:
    def __init__(self, console, session_id: str, channel: str, reason: str) -> None:
        self.console = console
        self.session_id = session_id
        self.channel = channel
        self.reason = reason
        self.rows: deque[tuple[str, str, str, str]] = deque(maxlen=MAX_ROWS)
        self.counts: Counter[str] = Counter()
        self.total = 0
        self.started = time.monotonic()
        self.recent: deque[float] = deque()
        self.status: StreamStatus | None = None
        self.last_id: str | None = None
        self._live = None

    def __enter__(self) -> "LiveView":
        from rich.live import Live

        self._live = Live(console=self.console, get_renderable=self.render, refresh_per_second=4, transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.__exit__(None, None, None)

    def on_status(self, status: StreamStatus) -> None:
        self.status = status

    def add(self, event: OutputEvent) -> None:
        now = time.monotonic()
        self.total += 1
        kind = event.type or event.event
        self.counts[kind] += 1
        self.recent.append(now)
        if event.id:
            self.last_id = event.id
        self.rows.append((time.strftime("%H:%M:%S"), event.id or "-", kind, _summary(event.data)))

    def _rate(self) -> float:
        now = time.monotonic()
        while self.recent and now - self.recent[0] > 5:
            self.recent.popleft()
        return len(self.recent) / min(5.0, max(0.001, now - self.started))

    def render(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        status = self.status
        state = status.state if status else "connecting"
        if status and state == "reconnecting" and status.retry_at:
            state = f"reconnecting in {max(0.0, status.retry_at - time.monotonic()):.1f}s ({status.detail})"
        elif status and status.detail and state != "connected":
            state = f"{state} ({status.detail})"
        beat = "-"
        if status and status.last_heartbeat:
            beat = f"{time.monotonic() - status.last_heartbeat:.0f}s ago"
        head = Text.assemble(
            ("atai tail ", "bold"), (self.session_id, "cyan"),
            f"  channel {self.channel}  ", ("state ", "dim"), (state, "green" if state == "connected" else "yellow"),
            f"\nevents {self.total}  rate {self._rate():.1f}/s  last id {self.last_id or (status.last_event_id if status else None) or '-'}"
            f"  last heartbeat {beat}  reconnects {status.reconnects if status else 0}",
        )
        counts = Table(show_header=True, header_style="bold", box=None)
        counts.add_column("TYPE")
        counts.add_column("COUNT", justify="right")
        for kind, n in self.counts.most_common(6):
            counts.add_row(kind, str(n))
        events = Table(show_header=True, header_style="bold", expand=True)
        events.add_column("TIME", no_wrap=True)
        events.add_column("ID", no_wrap=True)
        events.add_column("TYPE", no_wrap=True)
        events.add_column("DATA", overflow="ellipsis", no_wrap=True, ratio=1)
        for row in self.rows:
            events.add_row(*row)
        return Group(head, counts, events)
