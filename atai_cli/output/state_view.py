"""Pictures of a lens's results, for the live views (contract v3, "Pictures of state").

A machine-state lens answers `response: [LABEL, {LABEL: SCORE, ...}]`: what a person wants to
see is which state the machine is in and how that has changed, so `StateHistory` keeps the
recent labels and draws the current state with its score, a timeline strip (one cell per
result, a letter and a colour per label, a legend with counts and time in each state) and a
sparkline of each label's score. A lens that answers with text (activity monitor, image QA)
is drawn as wrapped sentences, newest first. Anything else keeps the compact JSON line.
Shapes that almost match (a label without a score, scores that are not numbers, thousands of
labels) fall back to text: the view never fails on what a server sends.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from atai_cli.output.formats import duration, printable

HISTORY = 600  # results kept per session: more than any strip is wide
MAX_LABELS = 24  # more distinct labels than this is not a state any more: text
SPARKS = "▁▂▃▄▅▆▇█"

# Words a machine-state lens commonly uses, in the colour a person expects of them; other
# labels take the palette in the order they are first seen.
SEMANTIC = {
    "normal": "green", "ok": "green", "good": "green", "idle": "blue", "low": "green", "off": "blue",
    "healthy": "green", "running": "green", "active": "cyan", "on": "cyan",
    "warning": "yellow", "warn": "yellow", "medium": "yellow", "degraded": "yellow",
    "high": "red", "fault": "red", "error": "red", "critical": "red", "failure": "red", "alarm": "red",
    "anomaly": "magenta", "abnormal": "magenta",
}
PALETTE = ("cyan", "magenta", "yellow", "green", "blue", "red", "bright_cyan", "bright_magenta", "bright_yellow",
           "bright_green", "bright_blue", "bright_red")


@dataclass(frozen=True)
class StateResult:
    label: str
    score: float
    scores: dict[str, float]


def response_of(payload: Any) -> Any:
    """The lens's answer in an event payload (event_data or the mailbox message's data)."""
    if isinstance(payload, dict):
        return payload.get("response")
    return None


def as_state(response: Any) -> StateResult | None:
    """`[LABEL, {LABEL: SCORE, ...}]` with every score a finite number, else None."""
    if not (isinstance(response, list) and len(response) == 2 and isinstance(response[0], str)
            and isinstance(response[1], dict) and response[0] in response[1]):
        return None
    scores = response[1]
    if not all(isinstance(k, str) and _number(v) for k, v in scores.items()):
        return None
    return StateResult(response[0], float(scores[response[0]]), {k: float(v) for k, v in scores.items()})


def as_text(response: Any) -> str | None:
    """A text answer: a string, a list of strings, or a label whose scores are not usable."""
    if isinstance(response, str):
        return response
    if isinstance(response, list) and response and all(isinstance(part, str) for part in response):
        return "\n".join(response)
    if isinstance(response, list) and response and isinstance(response[0], str):
        import json

        rest = " ".join(json.dumps(part, separators=(",", ":"), default=str) for part in response[1:])
        return f"{response[0]} {rest}".strip()
    return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def short_result(payload: Any) -> str | None:
    """One line for an event line: `NORMAL 0.93` for a state, the text itself for a text answer
    (its lines joined with " / "), else None (the caller's JSON)."""
    response = response_of(payload)
    state = as_state(response)
    if state is not None:
        return f"{printable(state.label)} {state.score:.2f}"
    text = as_text(response)
    if text is not None:
        return " / ".join(printable(line).strip() for line in text.splitlines() if line.strip()) or None
    return None


@dataclass
class _Label:
    letter: str
    colour: str
    count: int = 0
    seconds: float = 0.0


@dataclass
class StateHistory:
    """One session's results as states: labels in first-seen order, each with a letter and a
    colour that stay for the whole run."""

    results: deque = field(default_factory=lambda: deque(maxlen=HISTORY))  # (label, score, scores, at)
    labels: dict[str, _Label] = field(default_factory=dict)
    texts: deque = field(default_factory=lambda: deque(maxlen=50))  # (at, text), newest last
    others: int = 0  # results of an unknown shape
    too_many: bool = False  # more distinct labels than a picture can tell apart
    last_change: float | None = None

    def add(self, payload: Any, at: float | None = None) -> None:
        at = time.time() if at is None else at
        response = response_of(payload)
        state = as_state(response)
        if state is not None and not self.too_many:
            if state.label not in self.labels and len(self.labels) >= MAX_LABELS:
                self.too_many = True
            else:
                self._add_state(state, at)
                return
        text = as_text(response) if state is None else f"{state.label} {state.score:g}"
        if text is not None:
            self.texts.append((at, printable_text(text)))
        else:
            self.others += 1

    def _add_state(self, state: StateResult, at: float) -> None:
        if self.results:
            previous, _, _, since = self.results[-1]
            self.labels[previous].seconds += max(0.0, at - since)
            if previous != state.label:
                self.last_change = at
        else:
            self.last_change = at
        entry = self.labels.get(state.label)
        if entry is None:
            entry = self.labels[state.label] = _Label(self._letter(state.label), self._colour(state.label))
        entry.count += 1
        self.results.append((state.label, state.score, state.scores, at))

    def _letter(self, label: str) -> str:
        taken = {entry.letter for entry in self.labels.values()}
        for ch in label.upper() + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789":
            if ch.isalnum() and ch.isascii() and ch not in taken:
                return ch
        return "?"

    def _colour(self, label: str) -> str:
        taken = {entry.colour for entry in self.labels.values()}
        wanted = SEMANTIC.get(label.lower())
        if wanted and wanted not in taken:
            return wanted
        for colour in PALETTE:
            if colour not in taken:
                return colour
        return PALETTE[len(self.labels) % len(PALETTE)]

    # -- what the views ask -------------------------------------------------------------
    @property
    def kind(self) -> str | None:
        """"state" once a label with scores was seen (and the labels stay few), "text" for
        text answers, else None (the view keeps its JSON lines)."""
        if self.results and not self.too_many:
            return "state"
        if self.texts:
            return "text"
        return None

    def strip(self, cells: int):
        """The last `cells` results, one coloured letter each, oldest left."""
        from rich.text import Text

        strip = Text(no_wrap=True, overflow="crop")
        if cells <= 0:
            return strip
        for label, _, _, _ in list(self.results)[-cells:]:
            entry = self.labels[label]
            strip.append(entry.letter, style=f"bold black on {entry.colour}")
        return strip

    def seconds_in(self, label: str, now: float) -> float:
        seconds = self.labels[label].seconds
        if self.results and self.results[-1][0] == label:
            seconds += max(0.0, now - self.results[-1][3])
        return seconds

    def picture(self, width: int, height: int, now: float | None = None) -> list:
        """Renderables, at most `height` lines of `width` columns: the current state, the
        strip, the legend, a sparkline per label (as height allows)."""
        from rich.text import Text

        now = time.time() if now is None else now
        label, score, scores, at = self.results[-1]
        entry = self.labels[label]
        lines: list = []
        badge = Text(no_wrap=True, overflow="ellipsis")
        badge.append(f"  {printable(label)}  ", style=f"bold black on {entry.colour}")
        badge.append(f"  {score:.2f}", style="bold")
        if self.last_change is not None:  # how long this state has held, and when it began
            clock = time.strftime("%H:%M:%S", time.localtime(self.last_change))
            badge.append(f"   for {duration(max(0.0, now - self.last_change))} (changed at {clock})", style="dim")
        if height >= 12:
            pad = Text(" " * (len(printable(label)) + 4), style=f"on {entry.colour}", no_wrap=True, overflow="crop")
            lines += [pad, badge, pad.copy()]
        else:
            lines.append(badge)
        # One label column and one cell count for the strip and every sparkline: cell k of the
        # strip is the same result as cell k of each sparkline.
        name_width, cells = self.columns(width)
        strip = Text("recent".ljust(name_width + 2), style="dim", no_wrap=True, overflow="crop")
        strip.append_text(self.strip(cells))
        lines.append(strip)
        lines += self.legend(width, now)
        room = height - len(lines)
        if room > 0:
            lines += self.sparklines(width, room)
        return lines[:max(1, height)]

    def columns(self, width: int) -> tuple[int, int]:
        """(label column width, cells) shared by the strip and the sparklines: the labels up to
        16 columns, 2 between them and the cells, and 5 after the cells for a sparkline's score."""
        name_width = max(len("recent"), min(16, max((len(printable(n)) for n in self.labels), default=0)))
        return name_width, max(1, width - name_width - 2 - 5)

    def legend(self, width: int, now: float) -> list:
        """`N NORMAL 30 (71%) 2m10s` per label, first seen first, as many whole entries to a
        line as fit, on as many lines as it takes (an entry wider than a line ends in `…`)."""
        from rich.text import Text

        total = sum(entry.count for entry in self.labels.values()) or 1
        lines: list = []
        line = None
        for name, entry in self.labels.items():
            part = Text(no_wrap=True, overflow="ellipsis")
            part.append(entry.letter, style=f"bold black on {entry.colour}")
            part.append(f" {printable(name)} ", style="bold")
            part.append(f"{entry.count} ({100 * entry.count // total}%) {duration(self.seconds_in(name, now))}", style="dim")
            if line is not None and line.cell_len + 3 + part.cell_len <= width:
                line.append("   ")
                line.append_text(part)
                continue
            if part.cell_len > width:
                part.truncate(width, overflow="ellipsis")
            line = part
            lines.append(line)
        return lines

    def sparklines(self, width: int, room: int) -> list:
        """Each label's score over the recent results (0 when a result did not score it)."""
        from rich.text import Text

        names = list(self.labels)[:room]
        name_width, cells = self.columns(width)
        recent = list(self.results)[-cells:]
        lines = []
        for name in names:
            entry = self.labels[name]
            line = Text(no_wrap=True, overflow="crop")
            line.append(printable(name)[:name_width].ljust(name_width + 2), style="bold")
            values = [scores.get(name, 0.0) for _, _, scores, _ in recent]
            line.append(sparkline(values), style=entry.colour)
            line.append(f" {values[-1]:.2f}" if values else "", style="dim")
            lines.append(line)
        return lines

    def text_picture(self, width: int, height: int) -> list:
        """Text answers as wrapped sentences with their time, newest first, within `height`."""
        from rich.text import Text

        lines: list = []
        body = max(10, width - 10)
        for at, text in reversed(self.texts):
            wrapped = Text(text).wrap(_measure_console(body), body)
            for index, part in enumerate(wrapped):
                if len(lines) >= height:
                    return lines
                line = Text(no_wrap=True, overflow="ellipsis")
                line.append(time.strftime("%H:%M:%S", time.localtime(at)) if index == 0 else " " * 8, style="dim")
                line.append("  ")
                line.append_text(part)
                lines.append(line)
        return lines


def sparkline(values: list[float]) -> str:
    """Scores between 0 and 1 as bars (a score outside that range is clamped)."""
    return "".join(SPARKS[min(len(SPARKS) - 1, max(0, int(v * len(SPARKS))))] if v < 1 else SPARKS[-1] for v in values)


def printable_text(text: str) -> str:
    """Line breaks stay (they are where the sentences break); other control characters do not."""
    return "\n".join(printable(line) for line in text.splitlines())


_consoles: dict[int, Any] = {}


def _measure_console(width: int):
    """A console only for wrapping text at a width (Text.wrap needs one); never printed to."""
    console = _consoles.get(width)
    if console is None:
        import io

        from rich.console import Console

        console = _consoles[width] = Console(file=io.StringIO(), width=width, color_system=None)
    return console
