"""What both followers (SSE consumer, session.read mailbox) share: status reporting,
reconnect backoff, giving up, telling a destroyed session from one that vanished, and being
stopped from another thread.

A follower is an iterator of OutputEvents that keeps its own resume cursor. It never prints;
it reports its state through `on_status` (the live view and the stderr lines read it).
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from atai_cli.client.backoff import Backoff
from atai_cli.errors import NetworkError, NotFoundError, OperationTimeout
from atai_cli.protocol.events import StatusCallback, StreamStatus, remaining
from atai_cli.protocol.status import SessionFate


class Follower:
    channel = ""

    def __init__(
        self,
        *,
        session_id: str = "",
        reconnect_delay: float = 1.0,
        reconnect_cap: float = 30.0,
        give_up_after: float | None = None,
        deadline: float | None = None,
        on_status: StatusCallback | None = None,
        before_wait: Callable[[], None] | None = None,
        check_gone: Callable[[], SessionFate] | None = None,
        trace: Callable[[str], None] | None = None,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self.session_id = session_id
        self.backoff = Backoff(base=reconnect_delay, cap=reconnect_cap)
        self.give_up_after = give_up_after
        self.deadline = deadline
        self.status = StreamStatus(channel=self.channel)
        self.ended = False
        self.end_reason = ""
        self._on_status = on_status
        self._before_wait = before_wait
        self._check_gone = check_gone
        self._trace = trace
        self._on_warning = on_warning  # something the person must know (a mailbox trimmed)
        self._stop = threading.Event()
        self._failing_since: float | None = None

    # -- control ------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the follower to end at its next step; wakes it if it is waiting or reading."""
        self._stop.set()
        self._interrupt()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def _interrupt(self) -> None:
        """Subclasses unblock a read in progress (shut the socket down)."""

    # -- status -------------------------------------------------------------------------
    def _set(self, state: str, detail: str = "", retry_at: float | None = None) -> None:
        self.status.update(state, detail, retry_at)
        if self._trace:
            self._trace(f"! {self.channel} {state} {detail}".rstrip())
        if self._on_status:
            self._on_status(self.status)

    def _check_deadline(self) -> None:
        left = remaining(self.deadline)
        if left is not None and left <= 0:
            raise OperationTimeout("--timeout reached before the stream ended")

    def _flush(self) -> None:
        if self._before_wait is not None:
            self._before_wait()

    # -- reconnecting -------------------------------------------------------------------
    def _healthy(self) -> None:
        """A connection delivered something: forget past failures."""
        if self.status.failures:
            self._set("connected", f"reconnected after {self.status.failures} {'try' if self.status.failures == 1 else 'tries'}")
        self.status.failures = 0
        self._failing_since = None
        self.backoff.reset()

    def _retry_in(self, cause: str, delay: float | None = None) -> float:
        """Note a failed attempt; the delay before the next one (or give up)."""
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        self.status.failures += 1
        if self.give_up_after is not None and now - self._failing_since >= self.give_up_after:
            raise NetworkError(f"gave up reconnecting after {self.give_up_after:g}s: {cause}")
        delay = self.backoff.next_delay() if delay is None else delay
        if self.give_up_after is not None:
            delay = min(delay, max(0.0, self._failing_since + self.give_up_after - now))
        left = remaining(self.deadline)
        if left is not None:
            delay = min(delay, max(left, 0.0))
        self._set("reconnecting", cause, now + delay)
        return delay

    def _sleep(self, seconds: float) -> None:
        """Wait, but wake at once when stopped; raise when --timeout passes meanwhile."""
        self._flush()
        left = remaining(self.deadline)
        if left is not None:
            if left <= 0:
                raise OperationTimeout("--timeout reached while following the session")
            seconds = min(seconds, left)
        self._stop.wait(max(0.0, seconds))

    def _gone(self) -> bool:
        """The server says the session is unknown: destroyed (True: a clean end), vanished
        (raises: exit 4), or still alive after all (False: try again)."""
        fate = self._check_gone() if self._check_gone else SessionFate.DESTROYED
        if fate == SessionFate.VANISHED:
            raise NotFoundError(
                f"session {self.session_id} vanished: the server has no record of it any more",
                resource="session",
            )
        if fate == SessionFate.ALIVE:
            return False
        self.ended = True
        self.end_reason = "session was destroyed"
        return True


def describe_failure(exc: Exception) -> str:
    """A network failure in a few words: `connection refused`, `the server closed the connection`."""
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if any(sign in lowered for sign in ("peer closed", "incomplete chunked read", "closed the session websocket",
                                         "broken pipe", "connection reset", "dropped while")):
        return "the server closed the connection"
    if "name or service" in lowered or "nodename" in lowered:
        return "the host name does not resolve"
    return text
