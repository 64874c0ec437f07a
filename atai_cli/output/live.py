"""The live terminal view of `atai tail SID`: connection state, counts, the latest events.

Rich redraws it at a fixed rate from its own thread; adding an event only updates counters
under a lock, so a fast stream is never slowed down by drawing. It sizes itself to the
terminal: two header lines, then as many event rows as fit.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque

from atai_cli.output.formats import plural, printable, summary
from atai_cli.output.reporters import describe_status, outcome_warnings
from atai_cli.protocol.records import OutputEvent, StreamStatus

MAX_ROWS = 200
ECHO_MARGIN = 3  # columns left free for the terminal's "^C"
RATE_WINDOW = 5.0


class RateMeter:
    """Events per second over the last few seconds."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.recent: deque[float] = deque()

    def tick(self, now: float) -> None:
        self.recent.append(now)

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        while self.recent and now - self.recent[0] > RATE_WINDOW:
            self.recent.popleft()
        return len(self.recent) / min(RATE_WINDOW, max(0.001, now - self.started))


def state_text(status: StreamStatus | None) -> tuple[str, str]:
    """(text, style) for a connection state: one countdown, the cause on the same line."""
    if status is None:
        return "connecting", "yellow"
    if status.state == "reconnecting":
        return describe_status(status) or "reconnecting", "yellow"
    if status.state == "connected":
        return "connected", "green"
    if status.state == "ended":
        return f"ended ({status.detail})" if status.detail else "ended", "dim"
    return status.state, "yellow"


class RedrawnView:
    """A view Rich redraws in place, four times a second, from its own thread; `log` keeps a
    few lines of notes inside the view (printing beside a live display would tear it)."""

    NOTES = 2

    def __init__(self, console) -> None:
        self.console = console
        self.notes: deque[str] = deque(maxlen=self.NOTES)
        self._lock = threading.Lock()
        self._live = None

    def __enter__(self):
        from rich.live import Live

        self._live = Live(console=self.console, get_renderable=self.render, refresh_per_second=4,
                          transient=False, redirect_stdout=False, redirect_stderr=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            live, self._live = self._live, None
            live.__exit__(None, None, None)  # one last frame, drawn once

    def log(self, message: str) -> None:
        with self._lock:
            self.notes.append(printable(message))

    def render(self):
        """One frame, a few columns narrower and a line shorter than the terminal: the terminal
        echoes ^C after the last line, and a line that then wraps would make Rich redraw one
        line too low, leaving the old header behind."""
        from rich.constrain import Constrain

        width, height = self.console.size
        width, height = max(20, width - ECHO_MARGIN), max(6, height - 1)
        return Constrain(self.frame(width, height), width)

    def frame(self, width: int, height: int):
        raise NotImplementedError


class LiveView(RedrawnView):
    def __init__(self, console, session_id: str, channel: str = "", reason: str = "") -> None:
        super().__init__(console)
        self.session_id = session_id
        self.channel = channel
        self.reason = reason
        self.rows: deque[tuple[str, str, str, str]] = deque(maxlen=MAX_ROWS)
        self.counts: Counter[str] = Counter()
        self.total = 0
        self.meter = RateMeter()
        self.status: StreamStatus | None = None
        self.last_id: str | None = None

    # -- what the fleet tells it --------------------------------------------------------
    def session_started(self, outcome) -> None:
        self.channel, self.reason = outcome.channel or "", outcome.why
        for warning in outcome_warnings(outcome):
            self.log(f"warning: {warning}")

    def session_ended(self, outcome) -> None:
        if outcome.failed:
            self.log(f"failed: {outcome.reason}")

    def status_changed(self, outcome, status: StreamStatus) -> None:
        self.status = status

    def add(self, event: OutputEvent) -> None:
        now = time.monotonic()
        kind = event.kind
        with self._lock:
            self.total += 1
            self.counts[kind] += 1
            self.meter.tick(now)
            if event.id:
                self.last_id = event.id
            self.rows.append((time.strftime("%H:%M:%S"), event.id or "-", kind, summary(event.data, 400)))

    # -- drawing ------------------------------------------------------------------------
    def frame(self, width: int, height: int):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        with self._lock:
            rows = list(self.rows)
            counts = self.counts.most_common(4)
            notes = list(self.notes)
            total = self.total
        status = self.status
        state, style = state_text(status)
        head = Text.assemble(("atai tail ", "bold"), (self.session_id, "cyan"), f"  {self.channel}  ", (state, style),
                             no_wrap=True, overflow="ellipsis")
        last = self.last_id or (status.last_event_id if status else None) or "-"
        beat = f"{time.monotonic() - status.last_heartbeat:.0f}s ago" if status and status.last_heartbeat else "-"
        types = ", ".join(f"{kind} {n}" for kind, n in counts)
        stats = Text(f"{plural(total, 'event')}  {self.meter.rate():.1f}/s  last id {last}  heartbeat {beat}"
                     f"  reconnects {status.reconnects if status else 0}" + (f"  | {types}" if types else ""),
                     style="dim", no_wrap=True, overflow="ellipsis")
        parts = [head, stats, *(Text(n, style="yellow", no_wrap=True, overflow="ellipsis") for n in notes)]
        room = max(1, height - len(parts) - 3)  # the table's header and borders take 3 rows
        events = Table(show_header=True, header_style="bold", expand=True, box=None if width < 60 else None,
                       padding=(0, 1))
        if width >= 60:
            events.add_column("TIME", no_wrap=True)
            events.add_column("ID", no_wrap=True, max_width=12)
        events.add_column("TYPE", no_wrap=True, max_width=24)
        events.add_column("DATA", overflow="ellipsis", no_wrap=True, ratio=1)
        for row in rows[-room:]:
            events.add_row(*(row if width >= 60 else row[2:]))
        if not rows:
            parts.append(Text("waiting for the first event…", style="dim"))
        else:
            parts.append(events)
        return Group(*parts)
