"""The live terminal view of `atai tail SID`: connection state, counts, the latest events.

Rich redraws it at a fixed rate from its own thread; adding an event only updates counters
under a lock, so a fast stream is never slowed down by drawing. It sizes itself to the
terminal: two header lines, then as many event rows as fit.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque

from pathlib import Path

from rich.cells import cell_len

from atai_cli.output.formats import plural, printable, summary
from atai_cli.output.state_view import StateHistory, short_result
from atai_cli.output.reporters import describe_status, outcome_warnings
from atai_cli.protocol.events import OutputEvent, StreamStatus

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


def event_time(event: OutputEvent) -> float:
    """When an event happened: its own timestamp when it has one (a mailbox read at once holds
    results from minutes apart), else when it arrived."""
    now = time.time()
    stamp = event.timestamp
    # Only a plausible time: Infinity, NaN or a year 5000 stamp would break the clock display.
    if stamp is None or not (0 < stamp <= now + 86400):
        return now
    return stamp


class RedrawnView:
    """A view Rich redraws in place, four times a second, from its own thread; `log` keeps a
    few lines of notes inside the view (printing beside a live display would tear it). Each
    frame is drawn for the terminal's size at that moment, so a resized terminal gets a frame
    of its new size. With `svg`, the last frame is also saved as an SVG picture on close."""

    NOTES = 2

    def __init__(self, console, svg: str | Path | None = None) -> None:
        self.console = console
        self.svg = Path(svg) if svg else None
        self.notes: deque[str] = deque(maxlen=self.NOTES)
        self._lock = threading.Lock()
        self._live = None
        self._size = None

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
        if self.svg is not None:
            self.save_svg(self.svg)

    def save_svg(self, path: Path) -> None:
        """The last frame at the terminal's size, as Rich draws it, into an SVG file."""
        import io

        from rich.console import Console

        width, height = self.console.size
        plain = self.console.color_system is None
        recorder = Console(file=io.StringIO(), record=True, width=width, height=height, force_terminal=True,
                           highlight=False, soft_wrap=False, no_color=plain,
                           color_system=None if plain else "truecolor")
        recorder.print(self.frame(width, max(6, height - 1)))
        try:
            recorder.save_svg(str(path), title=self.title())
        except OSError as exc:
            self.console.print(f"could not write {path}: {exc.strerror or exc}", markup=False, style="yellow")

    def title(self) -> str:
        return "atai"

    def log(self, message: str) -> None:
        with self._lock:
            self.notes.append(printable(message))

    def render(self):
        """One frame, a few columns narrower and a line shorter than the terminal: the terminal
        echoes ^C after the last line, and a line that then wraps would make Rich redraw one
        line too low, leaving the old header behind."""
        from rich.constrain import Constrain

        size = self.console.size
        if self._size is not None and size != self._size:
            # The terminal reflowed the old frame to its new size: Rich cannot know where that
            # left the lines, so start the new frame on a clean screen.
            self.console.clear()
        self._size = size
        width, height = max(10, size.width - ECHO_MARGIN), max(6, size.height - 1)
        return Constrain(self.frame(width, height), width)

    def frame(self, width: int, height: int):
        raise NotImplementedError


class EventRows:
    """The latest events as table rows whose column widths depend on the terminal and on the
    widest id and type seen so far (they only grow), never on the data in view: a redraw does
    not make the columns jump."""

    def __init__(self) -> None:
        self.rows: deque[tuple[str, str, str, str]] = deque(maxlen=MAX_ROWS)
        self.id_width = 2
        self.type_width = 4

    def add(self, event: OutputEvent) -> None:
        event_id = event.id or "-"
        self.id_width = max(self.id_width, cell_len(event_id))
        self.type_width = min(24, max(self.type_width, cell_len(event.kind)))
        text = short_result(event.payload) or summary(event.data, 400)
        self.rows.append((time.strftime("%H:%M:%S", time.localtime(event_time(event))), event_id, event.kind, text))

    def table(self, rows: list[tuple[str, str, str, str]], width: int):
        from atai_cli.output.tables import Spec, fit, rich_table

        specs = [Spec("TIME", 8, 8, 50), Spec("ID", self.id_width, self.id_width, 60),
                 Spec("TYPE", self.type_width, min(self.type_width, 10), 70), Spec("DATA", width, 10, 100, keep=True)]
        layout = fit(specs, width) or [(3, width)]
        indexes = [i for i, _ in layout]
        return rich_table([specs[i].header for i in indexes], [w for _, w in layout],
                          [[row[i] for i in indexes] for row in rows])


class LiveView(RedrawnView):
    def __init__(self, console, session_id: str, channel: str = "", reason: str = "",
                 svg: str | Path | None = None) -> None:
        super().__init__(console, svg)
        self.session_id = session_id
        self.channel = channel
        self.reason = reason
        self.events = EventRows()
        self.history = StateHistory()
        self.counts: Counter[str] = Counter()
        self.total = 0
        self.meter = RateMeter()
        self.status: StreamStatus | None = None
        self.last_id: str | None = None
        self.ended = False

    def title(self) -> str:
        return f"atai tail {self.session_id}"

    # -- what the fleet tells it --------------------------------------------------------
    def session_started(self, outcome) -> None:
        self.channel, self.reason = outcome.channel or "", outcome.why
        for warning in outcome_warnings(outcome):
            self.log(f"warning: {warning}")

    def session_ended(self, outcome) -> None:
        self.ended = True
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
            self.events.add(event)
            if not event.envelope:
                self.history.add(event.payload, at=event_time(event))

    # -- drawing ------------------------------------------------------------------------
    def frame(self, width: int, height: int):
        from rich.console import Group
        from rich.text import Text

        with self._lock:
            rows = list(self.events.rows)
            counts = self.counts.most_common(4)
            notes = list(self.notes)
            total = self.total
            kind = self.history.kind
            picture = (self.history.picture(width, max(3, (height - 2 - len(notes)) * 2 // 3)) if kind == "state"
                       else self.history.text_picture(width, height - 3 - len(notes)) if kind == "text" else [])
        status = self.status
        state, style = state_text(status)
        head = Text.assemble(("atai tail ", "bold"), (self.session_id, "cyan"), f"  {self.channel}  ", (state, style),
                             no_wrap=True, overflow="ellipsis")
        if head.cell_len > width:  # the id alone on its line (folded if it must, never cut), the state below
            head = Group(Text.assemble(("atai tail ", "bold"), (self.session_id, "cyan"), overflow="fold")
                         if cell_len(self.session_id) + 10 <= width else Text(self.session_id, style="cyan", overflow="fold"),
                         Text.assemble(f"{self.channel}  ", (state, style), no_wrap=True, overflow="ellipsis"))
        last = self.last_id or (status.last_event_id if status else None) or "-"
        beat = f"{time.monotonic() - status.last_heartbeat:.0f}s ago" if status and status.last_heartbeat else "-"
        types = ", ".join(f"{kind} {n}" for kind, n in counts)
        stats = Text(f"{plural(total, 'event')}  {self.meter.rate():.1f}/s  last id {last}  heartbeat {beat}"
                     f"  reconnects {status.reconnects if status else 0}" + (f"  | {types}" if types else ""),
                     style="dim", no_wrap=True, overflow="ellipsis")
        parts = [head, stats, *(Text(n, style="yellow", no_wrap=True, overflow="ellipsis") for n in notes)]
        if not rows:
            ended = self.ended or (status is not None and status.state == "ended")
            parts.append(Text("no events: the session ended" if ended else "waiting for the first event…", style="dim"))
            return Group(*parts)
        if kind == "text":
            parts.append(Text(""))
            parts += picture
            return Group(*parts)
        if picture:
            parts.append(Text(""))
            parts += picture
            parts.append(Text(""))
        room = height - len(parts) - 2  # the table's header and its rule
        if room > 0:
            parts.append(self.events.table(rows[-room:], width))
        return Group(*parts)
