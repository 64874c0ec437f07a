"""Direct sensor streaming: paced session.update pushes over one WebSocket.

The runner silently drops what overflows its input buffer (lens-api.md 5.2), so pushes are
paced: one window per `1/rate` seconds, drift-free, never bursting to catch up.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable

from atai_cli.client.responses import check_reply
from atai_cli.client.socket import SessionSocket


class Pacer:
    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self.clock = clock
        self.sleep = sleep
        self._next: float | None = None

    def wait(self) -> None:
        """Block until the next slot. Late callers go at once, and the schedule restarts from
        them, so a stall is never followed by a burst."""
        now = self.clock()
        if self._next is not None and now < self._next:
            self.sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


def push_events(
    socket: SessionSocket,
    events: Iterable[dict],
    pacer: Pacer,
    on_sent: Callable[[int], None] | None = None,
) -> int:
    """Send each data event as a session.update; returns how many were accepted."""
    sent = 0
    for event in events:
        pacer.wait()
        check_reply(socket.request("session.update", event), f"session.update of window {sent + 1}")
        sent += 1
        if on_sent:
            on_sent(sent)
    return sent
