"""Which events go on to the sinks: --envelope, --type and --changes-only."""

from __future__ import annotations

import threading
from typing import Any, Iterable

from atai_cli.errors import UsageError
from atai_cli.protocol.records import OutputEvent

_MISSING = object()


def parse_path(text: str) -> tuple[str | int, ...]:
    """`event_data.response.0` -> ("event_data", "response", 0); a usage error when malformed."""
    if not text or not text.strip():
        raise UsageError("--changes-only needs a path, e.g. event_data.response.0")
    parts = text.split(".")
    if any(not part for part in parts):
        raise UsageError(f"--changes-only {text!r}: empty key in the path (dot-separated keys, e.g. event_data.response.0)")
    return tuple(int(part) if part.lstrip("-").isdigit() else part for part in parts)


def value_at(data: Any, path: tuple[str | int, ...]) -> Any:
    """The value at path (keys in objects, integer indices in lists); _MISSING when absent."""
    for part in path:
        if isinstance(data, dict):
            key = part if isinstance(part, str) else str(part)
            if key not in data:
                return _MISSING
            data = data[key]
        elif isinstance(data, list) and isinstance(part, int):
            if not -len(data) <= part < len(data):
                return _MISSING
            data = data[part]
        else:
            return _MISSING
    return data


def changed_value(event: OutputEvent, path: tuple[str | int, ...]) -> Any:
    """The value --changes-only compares: at path in the event's data, as printed. A mailbox
    message carries its result under `data` where an SSE payload has `event_data`, so on the
    read channel a path starting with event_data also reads the message's data."""
    value = value_at(event.data, path)
    if value is _MISSING and event.channel == "read" and path[:1] == ("event_data",) and isinstance(event.data, dict):
        value = value_at(event.data.get("data"), path[1:])
    return value


class EventFilter:
    """Keep the events the user asked for, in the order the options apply them."""

    def __init__(self, *, envelope: bool = False, types: Iterable[str] | None = None, changes_only: str | None = None) -> None:
        self.envelope = envelope
        self.types = frozenset(types or ())
        self.path = parse_path(changes_only) if changes_only is not None else None
        self.filtering = bool(self.types) or self.path is not None  # anything beyond envelopes
        self._last: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def keep(self, event: OutputEvent) -> bool:
        if event.envelope and not self.envelope:
            return False
        if self.types and event.kind not in self.types:
            return False
        if self.path is None:
            return True
        value = changed_value(event, self.path)
        if value is _MISSING:
            return False
        key = (event.session_id, event.kind)
        with self._lock:
            if key in self._last and self._last[key] == value:
                return False
            self._last[key] = value
        return True
