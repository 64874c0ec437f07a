"""The session.read poller: one client_id for the whole follow, adaptive interval, reconnects.

session.read answers at once (no long poll), so the interval adapts: fast while messages
arrive, doubling to a cap while idle. The server keeps one cursor per client_id, so a
reconnect with the same id replays nothing.
"""

from __future__ import annotations

import time
from typing import Callable, Iterator

from atai_cli.client.backoff import Backoff
from atai_cli.client.socket import SessionSocket
from atai_cli.client.stream import OutputEvent, StatusCallback, StreamStatus, remaining
from atai_cli.errors import AuthError, NetworkError, NotFoundError, OperationTimeout


class MailboxFollower:
    def __init__(
        self,
        open_socket: Callable[[], SessionSocket],
        client_id: str,
        *,
        min_interval: float = 0.05,
        max_interval: float = 2.0,
        reconnect_delay: float = 1.0,
        deadline: float | None = None,
        on_status: StatusCallback | None = None,
        before_wait=None,
    ) -> None:
        self.open_socket = open_socket
        self.client_id = client_id
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.backoff = Backoff(base=reconnect_delay, cap=30.0)
        self.deadline = deadline
        self.status = StreamStatus(channel="read")
        self._on_status = on_status
        self.end_reason = ""
        self._before_wait = before_wait
        self._socket: SessionSocket | None = None

    def _set(self, state: str, detail: str = "", retry_at: float | None = None) -> None:
        self.status.update(state, detail, retry_at)
        if self._on_status:
            self._on_status(self.status)

    def _sleep(self, seconds: float) -> None:
        left = remaining(self.deadline)
        if left is not None:
            if left <= 0:
                raise OperationTimeout("--timeout reached while following the session")
            seconds = min(seconds, left)
        time.sleep(seconds)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __iter__(self) -> Iterator[OutputEvent]:
        interval = self.min_interval
        try:
            while True:
                left = remaining(self.deadline)
                if left is not None and left <= 0:
                    raise OperationTimeout("--timeout reached while following the session")
                try:
                    if self._socket is None:
                        self._set("connecting")
                        self._socket = self.open_socket()
                        self._socket.connect()
                        self._set("connected")
                        self.backoff.reset()
                    reply = self._socket.request("session.read", {"client_id": self.client_id})
                except NotFoundError:
                    self.end_reason = "session is gone (destroyed)"
                    break
                except (AuthError, OperationTimeout):
                    raise
                except NetworkError as exc:
                    self.close()
                    self.status.reconnects += 1
                    delay = self.backoff.next_delay()
                    self._set("reconnecting", f"{exc.message}; in {delay:.1f}s", time.monotonic() + delay)
                    self._sleep(delay)
                    continue
                body = reply.get("event_data") or {}
                messages = body.get("messages") if isinstance(body, dict) else None
                if messages:
                    for message in messages:
                        kind = message.get("type") if isinstance(message, dict) else None
                        yield OutputEvent("read", None, kind or "message", kind, message)
                    interval = self.min_interval
                    if self._before_wait is not None:
                        self._before_wait()
                    continue  # drain a backlog without sleeping
                self._sleep(interval)
                interval = min(self.max_interval, interval * 2)
        finally:
            self.close()
        self._set("ended", self.end_reason)
