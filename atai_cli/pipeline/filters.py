"""Which events go on to the sinks: --envelope, --type and --changes-only."""

from __future__ import annotations

import re
import threading
from typing import Any, Callable, Iterable

from atai_cli.errors import UsageError
from atai_cli.protocol.events import OutputEvent

_MISSING = object()


_JQ_INDEX = re.compile(r"\[(-?[0-9]+)\]")
WARN_AFTER = 20  # events of a session without PATH before --changes-only says so


def parse_path(text: str) -> tuple[str | int, ...]:
    """`event_data.response.0`, or the jq form `.event_data.response[0]` -> ("event_data",
    "response", 0); a usage error when malformed."""
    if not text or not text.strip():
        raise UsageError("--changes-only needs a path, e.g. event_data.response.0")
    spelled = text.strip()
    dotted = _JQ_INDEX.sub(r".\1", spelled[1:] if spelled.startswith(".") else spelled)
    parts = dotted.split(".")
    if any(not part for part in parts) or "[" in dotted or "]" in dotted:
        raise UsageError(f"--changes-only {text!r}: not a path (dot-separated keys and integer indices, "
                         f"e.g. event_data.response.0 or .payload.response[0])")
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
    read channel a path starting with event_data also reads the message's data; and a path
    starting with payload reads the lens result on either channel, as in a --meta line."""
    value = value_at(event.data, path)
    if value is _MISSING and event.channel == "read" and path[:1] == ("event_data",) and isinstance(event.data, dict):
        value = value_at(event.data.get("data"), path[1:])
    if value is _MISSING and path[:1] == ("payload",):
        payload = event.payload
        if payload is not None:
            value = value_at(payload, path[1:])
    return value


class EventFilter:
    """Keep the events the user asked for, in the order the options apply them."""

    def __init__(self, *, envelope: bool = False, types: Iterable[str] | None = None, changes_only: str | None = None,
                 warn: Callable[[str], None] | None = None) -> None:
        self.envelope = envelope
        self.spelled = changes_only
        self._warn = warn
        self._misses: dict[str, tuple[int, set]] = {}  # per session, until one event has PATH
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
            self._missed(event)
            return False
        key = (event.session_id, event.kind)
        with self._lock:
            if key in self._last and self._last[key] == value:
                return False
            self._last[key] = value
            self._misses[event.session_id] = (-1, set())  # it has PATH: never a warning
        return True

    def kept_change(self, event: OutputEvent) -> tuple[str, str, Any] | None:
        """For the cursor file: (path, event type, value) of an event --changes-only kept."""
        if self.path is None:
            return None
        return self.spelled or "", event.kind, changed_value(event, self.path)

    def resume(self, session_id: str, path: str | None, last: dict[str, Any] | None) -> None:
        """Go on from the values a cursor file kept, when they are for the same path."""
        if self.path is None or not last or path is None:
            return
        try:
            if parse_path(path) != self.path:
                return
        except UsageError:
            return
        with self._lock:
            for kind, value in last.items():
                self._last[(session_id, kind)] = value
            self._misses[session_id] = (-1, set())

    def _missed(self, event: OutputEvent) -> None:
        """Counted for the first WARN_AFTER events of a session; when none had PATH, one warning
        (a typo in PATH would otherwise drop every event without a word)."""
        with self._lock:
            seen, keys = self._misses.get(event.session_id, (0, set()))
            if seen < 0 or seen >= WARN_AFTER:
                return
            if isinstance(event.data, dict):
                keys |= set(event.data)
            seen += 1
            self._misses[event.session_id] = (seen, keys)
        if seen == WARN_AFTER and self._warn is not None:
            where = f"{event.session_id}: " if event.session_id else ""
            have = ", ".join(sorted(keys)) or "none (not JSON objects)"
            self._warn(f"{where}--changes-only {self.spelled}: none of the first {WARN_AFTER} events has this path, "
                       f"so every event is dropped; their top-level keys: {have}")
