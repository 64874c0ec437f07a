"""What a --forward-to transport is: one event on its way (`Message`), one attempt and what came of
it (`Attempt`), and the interface each kind of target implements (HTTP in forwarder.py, Kafka and
MQTT in their own modules). Its own module so the transports and the delivery loop that drives
them import it, not each other."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from atai_cli.protocol.signing import signature

BROKER_WINDOW = 64  # events of one session in flight to a broker: bounds memory, keeps batches full


@dataclass
class Attempt:
    """One attempt and what came of it, for the stderr line."""

    outcome: str  # delivered | retry | rejected | cancelled
    status: int | str | None  # HTTP status, "ack" from a broker; None for a connection error or timeout
    ms: float
    detail: str = ""
    retry_in: float | None = None  # None: the broker's client retries on its own, no fixed delay
    retries: int = 0  # how many retries this event took before it was delivered


@dataclass
class Message:
    """One event on its way: the body and what the headers say."""

    body: bytes
    session_id: str
    event_id: str | None
    event_type: str | None
    report: Callable[[Attempt], None]
    started: float = 0.0  # this attempt (monotonic)
    first_started: float = 0.0
    retries: int = 0
    settled: Attempt | None = None
    after: list[Callable[[], None]] = field(default_factory=list)  # to run once settled, in order
    token: object = None  # the transport's handle of the attempt in flight

    def headers(self, secret: str) -> dict[str, str]:
        return {
            "Atai-Session-Id": self.session_id,
            "Atai-Event-Id": self.event_id or "",
            "Atai-Event-Type": self.event_type or "",
            "Atai-Signature": signature(secret, self.body),
        }


class Transport:
    """How events reach one kind of target. A synchronous transport (`send`) answers each attempt
    in the caller's thread; an asynchronous one (`submit`) hands the message to its client and
    calls `settle(message, attempt)` later, from `poll` or the client's own thread."""

    synchronous = True
    window = 1
    shown = ""

    def send(self, message: Message) -> Attempt:
        raise NotImplementedError

    def submit(self, message: Message, settle: Callable[[Message, Attempt], None]) -> None:
        raise NotImplementedError

    def poll(self, timeout: float) -> None:
        time.sleep(timeout)

    def diagnosis(self) -> str:
        """Why nothing is acknowledged, as the client last said (connection refused, ...)."""
        return ""

    def close(self, timeout: float = 0.0) -> None:
        pass
