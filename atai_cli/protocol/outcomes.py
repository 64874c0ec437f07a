"""What a follow reports, as records: each session's outcome, the whole follow's result, and
the Reporter contract the pipeline calls and the output layer implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from atai_cli.protocol.events import StreamStatus
from atai_cli.protocol.stops import StopReason


class SessionState(str, Enum):
    STARTING = "starting"
    FOLLOWING = "following"
    ENDED = "ended"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


@dataclass
class SessionOutcome:
    session_id: str
    lens_id: str | None = None
    channel: str | None = None
    why: str = ""  # why this channel
    events: int = 0  # handed to every sink
    received: int = 0  # lens output events received (before filters)
    reconnects: int = 0
    state: SessionState = SessionState.STARTING
    reason: str = ""  # how it ended, in words
    stopped_by: StopReason | None = None  # set when the fleet stopped it rather than the stream ending
    error: BaseException | None = None
    status: StreamStatus | None = None
    warnings: list[str] = field(default_factory=list)
    unread: int = 0  # mailbox messages read from the server but not handed on (no cursor file)

    @property
    def failed(self) -> bool:
        return self.state == SessionState.FAILED


@dataclass
class FleetResult:
    outcomes: list[SessionOutcome]
    stopped_by: StopReason
    printed: int


class Reporter(Protocol):
    """What the fleet tells the person: session starts and ends, connection changes. The line
    reporters (off a terminal, output/reporters.py) print them; the live views show them."""

    def session_started(self, outcome: SessionOutcome) -> None: ...

    def session_ended(self, outcome: SessionOutcome) -> None: ...

    def status_changed(self, outcome: SessionOutcome, status: StreamStatus) -> None: ...
