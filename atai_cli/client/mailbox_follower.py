"""The session.read poller: one client_id for the whole follow, adaptive interval, reconnects.

session.read answers at once (no long poll), so the interval adapts: fast while messages
arrive, doubling to a cap while idle. The server keeps one cursor per client_id, so a
reconnect with the same id replays nothing. A new client_id replays the mailbox from its
start (lens-api.md 2.3), so every reader numbers the messages alike: a message's id is its
1-based position in the mailbox, `offset` (what the server had handed this client_id before)
plus its index in the playback. A resume after position P replays under a new client_id and
passes over positions up to P (`skip`). A client_id named by --client-id may have read before:
its offset is found by playing the mailbox back under a probe reader up to the first message
it hands over (`_locate`).

A mailbox never shrinks, except if a platform trims its start: a playback that runs dry before
reaching the position to skip to is reported (`on_warning`) and played again from the start of
what is retained, so nothing is skipped silently (a few repeats instead).
"""

from __future__ import annotations

import uuid
from typing import Callable, Iterator

from atai_cli.client.followers import Follower, describe_failure
from atai_cli.client.socket import ReplyLost, SessionSocket
from atai_cli.errors import NetworkError, NotFoundError, OperationTimeout
from atai_cli.protocol.events import OutputEvent, payload_type


class MailboxFollower(Follower):
    channel = "read"

    def __init__(
        self,
        open_socket: Callable[[], SessionSocket],
        client_id: str,
        *,
        offset: int | None = 0,
        skip: int = 0,
        min_interval: float = 0.05,
        max_interval: float = 2.0,
        on_batch: Callable[[int | None, str], None] | None = None,
        **common,
    ) -> None:
        super().__init__(**common)
        self.open_socket = open_socket
        self.client_id = client_id
        self.min_interval = min_interval
        self.max_interval = max_interval
        # Messages the server has handed to this client_id (its cursor); None when it is not
        # known (a --client-id that may have read before) until the first batch is located.
        self.read_count: int | None = offset
        self._held: list | None = None
        self._skip = skip  # pass over the messages up to this position in the client_id's playback
        self._on_batch = on_batch  # told read_count as soon as a batch arrives (cursor files)
        self._socket: SessionSocket | None = None

    def _interrupt(self) -> None:
        sock = self._socket
        if sock is not None:
            sock.shutdown()

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __iter__(self) -> Iterator[OutputEvent]:
        interval = self.min_interval
        try:
            while not self.stopped:
                self._check_deadline()
                asked = False
                try:
                    if self._socket is None:
                        if self.status.state != "reconnecting":
                            self._set("connecting")
                        self._socket = self.open_socket()
                        self._socket.connect()
                        self._set("connected", "" if not self.status.failures else self.status.detail)
                    if self._held is not None:  # a batch read before a failed _locate
                        messages = self._held
                    else:
                        asked = True
                        reply = self._socket.request("session.read", {"client_id": self.client_id})
                        asked = False  # its reply is in: nothing of this id's is in flight
                        messages = _messages(reply)
                    if messages and self.read_count is None:
                        if self._held is None and self._on_batch is not None:
                            self._on_batch(None, self.client_id)  # handed over before it is placed
                        self._held = messages  # kept across a failure while locating them
                        self.read_count = self._locate(messages[0])
                        if self.read_count is None:
                            break  # stopped while locating: nothing numbered, nothing handed on
                        self._held = None
                except NotFoundError:
                    if self._gone():
                        break
                    self._sleep(self._retry_in("the session is not known yet"))
                    continue
                except (NetworkError, OperationTimeout) as exc:  # a reply that never comes: a half-open socket
                    self.close()
                    # A session.read that went out may have handed over a batch (moving the
                    # server's cursor for this id) whose reply never came: a stop, a timeout, or
                    # a socket that died while the reply was awaited. A socket found closed
                    # before the request is read again with the same id.
                    if asked and (self.stopped or isinstance(exc, (OperationTimeout, ReplyLost))):
                        self._reply_lost()
                    if self.stopped:
                        break
                    self.status.reconnects += 1
                    self._sleep(self._retry_in(describe_failure(exc)))
                    continue
                self._healthy()
                if not messages and self.read_count is not None and self.read_count < self._skip:
                    self._trimmed()
                    continue
                if messages:
                    first = self.read_count
                    self.read_count += len(messages)
                    if self._on_batch is not None:
                        self._on_batch(self.read_count, self.client_id)
                    for index, message in enumerate(messages, first + 1):
                        if index <= self._skip:
                            continue  # consumed before this resume
                        kind = payload_type(message)
                        yield OutputEvent("read", str(index), kind or "message", kind, message, session_id=self.session_id)
                        if self.stopped:
                            return
                    interval = self.min_interval
                    self._flush()
                    continue  # drain a backlog without sleeping
                self._sleep(interval)
                interval = min(self.max_interval, interval * 2)
        finally:
            self.close()
            self._set("ended", self.end_reason or ("stopped" if self.stopped else ""))

    def _locate(self, message: dict) -> int | None:
        """How many messages come before `message` in the mailbox. A client_id named on the
        command line may have read before, and the server does not say how far: a probe reader
        of atai's own plays the mailbox back from its start until it meets the same message
        (each carries its timestamp), so ids stay mailbox positions. A reader that had read
        nothing costs one probe read. None when the follow stopped first."""
        assert self._socket is not None
        probe = new_client_id()
        before = 0
        while True:
            if self.stopped:
                return None
            batch = _messages(self._socket.request("session.read", {"client_id": probe}))
            if not batch:
                break
            for candidate in batch:
                if candidate == message:
                    return before
                before += 1
        if self._on_warning is not None:
            self._on_warning(f"cannot tell where reader {self.client_id} stands in the mailbox (its first message "
                             f"is not in a playback from the start); ids count from the end of the mailbox")
        return before

    def _reply_lost(self) -> None:
        """A session.read whose reply never came (it timed out, the socket dropped, or atai
        stopped) may still have moved the server's cursor for this client_id past messages
        nobody saw: read on under a new id, passing over the positions already handed on (the
        cost: the new reader plays the mailbox back from its start)."""
        if self.read_count is None and self._on_warning is not None:
            self._on_warning(f"the reply to the first read of {self.client_id} was lost, and where that reader "
                             f"stood is unknown: reading the mailbox from its start under a new reader")
        self._skip = max(self._skip, self.read_count or 0)
        self.read_count = 0
        self.client_id = new_client_id()
        if self._on_batch is not None:
            self._on_batch(0, self.client_id)

    def _trimmed(self) -> None:
        """The playback ran dry before the position to resume after: the mailbox holds fewer
        messages than were handed on before (its start was trimmed, or the server forgot this
        client_id's cursor). Play back what is retained from its start, under a new id."""
        if self._on_warning is not None:
            self._on_warning(
                f"the mailbox holds {self.read_count} messages, fewer than the position {self._skip} to resume "
                f"after: its start was trimmed (or the server forgot the reader); resuming from the start of "
                f"what is retained (some messages may repeat, ids count from there)")
        self.client_id = new_client_id()
        self.read_count = 0
        self._skip = 0
        if self._on_batch is not None:
            self._on_batch(0, self.client_id)


def new_client_id() -> str:
    """A session.read reader of its own (the Lens docs: "each client should generate a unique
    client_id to enable parallel reading")."""
    return "atai-" + uuid.uuid4().hex[:16]


def _messages(reply: dict) -> list | None:
    """The messages of a session.read reply; None for none, or for a shape session.read does
    not promise (read again later)."""
    body = reply.get("event_data") or {}
    messages = body.get("messages") if isinstance(body, dict) else None
    return messages if isinstance(messages, list) else None
