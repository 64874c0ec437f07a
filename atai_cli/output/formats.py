"""How values read in human output: local times, durations, plurals, one-line summaries."""

from __future__ import annotations

import json
import time
from typing import Any

# Epoch seconds after 2001-09-09 and before 2286: anything in that range named like a time is one.
_EPOCH_MIN, _EPOCH_MAX = 1e9, 1e10


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """`1 event`, `2 events`, `1 window`."""
    return f"{count} {noun if count == 1 else (plural_form or noun + 's')}"


def local_time(epoch: Any) -> str:
    """Epoch seconds as local `YYYY-MM-DD HH:MM:SS`; anything else passes through."""
    if isinstance(epoch, bool) or not isinstance(epoch, (int, float)) or not _EPOCH_MIN <= epoch < _EPOCH_MAX:
        return "-" if epoch is None else str(epoch)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def relative_time(epoch: Any, now: float | None = None) -> str:
    """Epoch seconds as a short age for a terminal (`12s ago`, `5m ago`, `3h ago`, `2d ago`);
    anything else as `local_time` shows it."""
    if isinstance(epoch, bool) or not isinstance(epoch, (int, float)) or not _EPOCH_MIN <= epoch < _EPOCH_MAX:
        return local_time(epoch)
    age = (time.time() if now is None else now) - epoch
    ahead = age < 0
    age = abs(age)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if age >= size:
            text = f"{int(age // size)}{unit}"
            break
    else:
        text = f"{int(age)}s"
    return f"in {text}" if ahead else f"{text} ago"


def duration(seconds: Any) -> str:
    """`19m51s`, `2h03m`, `1d04h`, `0.4s`; anything else passes through."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return "-" if seconds is None else str(seconds)
    if seconds < 0:
        return "-" + duration(-seconds)
    if seconds < 10:
        return f"{seconds:.1f}s".replace(".0s", "s")
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def is_time_field(name: str) -> bool:
    return name.endswith(("_timestamp", "_time", "_at")) or name in ("timestamp", "last_updated")


def is_duration_field(name: str) -> bool:
    return name.endswith(("_sec", "_seconds", "_duration"))


def field_value(name: str, value: Any) -> Any:
    """A record field made readable by its name: times and durations, the rest unchanged."""
    if is_time_field(name):
        return local_time(value)
    if is_duration_field(name):
        return duration(value)
    return value


def cell(value: Any) -> str:
    """One table cell: '-' for nothing, compact JSON for structures, numbers without noise."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e6 else f"{value:.0f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), default=str)
    return printable(str(value))


def printable(text: str) -> str:
    """No terminal escapes or line breaks from the server reach the screen."""
    return "".join(ch if ch.isprintable() else " " for ch in text)


def summary(data: Any, width: int = 100) -> str:
    """The gist of an event payload on one line: its response, else its data, shortened."""
    if isinstance(data, dict):
        inner = data.get("event_data", data.get("data", data))
        if isinstance(inner, dict) and "response" in inner:
            inner = inner["response"]
        text = inner if isinstance(inner, str) else json.dumps(inner, separators=(",", ":"), default=str)
    else:
        text = str(data)
    text = printable(text)
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"
