"""The records both output channels hand back: one OutputEvent per lens output, and the
connection status a follower reports. Shared by the client (which makes them), the pipeline
(which routes them) and the output layer (which renders them)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

ENVELOPE_PREFIX = "sse.stream."
STREAM_START = "sse.stream.start"
STREAM_HEARTBEAT = "sse.stream.heartbeat"
STREAM_END = "sse.stream.end"


def payload_type(data: Any) -> str | None:
    """A payload's `type`, when it is a JSON object with a string one (server data may not be)."""
    if isinstance(data, dict):
        kind = data.get("type")
        if isinstance(kind, str):
            return kind
    return None


@dataclass(slots=True)
class OutputEvent:
    channel: str  # "sse" or "read"
    id: str | None  # the last event ID (SSE spec semantics); None when empty or on the read channel
    event: str  # SSE event name, or the message type on the read channel
    type: str | None  # the payload's "type", when the payload is a JSON object that has one
    data: Any  # the parsed payload; for non-JSON SSE data, the data string itself
    raw: str | None = None  # SSE data exactly as sent (None on the read channel)
    ok: bool = True  # False when SSE data was not JSON
    session_id: str = ""

    @property
    def envelope(self) -> bool:
        return self.type is not None and self.type.startswith(ENVELOPE_PREFIX)

    @property
    def kind(self) -> str:
        """What --type matches: the payload's type, else the SSE event name."""
        return self.type or self.event

    @property
    def payload(self) -> Any:
        """The lens result itself: the SSE payload's event_data, or the mailbox message's data
        (contract v2 "one event shape on both channels")."""
        data = self.data
        if not isinstance(data, dict):
            return None
        if self.channel == "read":
            return data.get("data")
        return data.get("event_data", data.get("data"))

    @property
    def timestamp(self) -> float | None:
        data = self.data
        if isinstance(data, dict):
            value = data.get("timestamp")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        return None

    def meta(self) -> dict:
        """The --meta form: {"id", "event", "channel", "data", "type", "payload", "timestamp"}."""
        return {
            "id": self.id, "event": self.event, "channel": self.channel, "data": self.data,
            "type": self.type, "payload": self.payload, "timestamp": self.timestamp,
        }

    def fleet(self) -> dict:
        """The several-sessions form: the --meta form plus session_id, first."""
        return {"session_id": self.session_id, **self.meta()}


@dataclass
class StreamStatus:
    """Connection state for the live view and for progress lines on stderr."""

    channel: str
    state: str = "connecting"  # connecting | connected | reconnecting | ended
    detail: str = ""
    retry_at: float | None = None  # monotonic time of the next attempt while reconnecting
    reconnects: int = 0
    failures: int = 0  # consecutive failed attempts since the last healthy connection
    last_heartbeat: float | None = None
    last_event_id: str | None = None
    changed: float = field(default_factory=time.monotonic)

    def update(self, state: str, detail: str = "", retry_at: float | None = None) -> None:
        self.state, self.detail, self.retry_at, self.changed = state, detail, retry_at, time.monotonic()


StatusCallback = Callable[[StreamStatus], None]


def remaining(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()
