"""One WebSocket session: send an event, get its reply, with timeouts and a proper close.

Fixes the official SDK's socket (lens-api.md 6.2): connect failures are reported at once,
every receive has a deadline, replies are matched to the request by type (so a stray reply
can never shift later ones), and close() sends a close frame.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable

import websocket

from atai_cli.client.responses import raise_error_reply, request_json, status_error
from atai_cli.errors import NetworkError, OperationTimeout
from atai_cli.protocol.redact import redact_text


# What a refused handshake means, for the message (the status decides the error and exit code).
HANDSHAKE_REFUSALS = {401: "the WebSocket handshake was refused", 403: "the WebSocket handshake was refused",
                      404: "session not found"}


class SocketClosed(NetworkError):
    """The server closed the WebSocket."""


class ReplyLost(SocketClosed):
    """The WebSocket died after a request went out and before its reply came: the server may
    have acted on it (a session.read may have moved its cursor) without the answer arriving."""


class SessionSocket:
    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        trace: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self.api_key = api_key
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._trace = trace
        self._ws: websocket.WebSocket | None = None

    def trace(self, text: str) -> None:
        if self._trace:
            self._trace(redact_text(text, self.api_key))

    def __enter__(self) -> "SessionSocket":
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._ws is not None and self._ws.connected

    def connect(self) -> None:
        self.trace(f"> WS connect {self.url} (Authorization: Bearer ***)")
        try:
            self._ws = websocket.create_connection(
                self.url,
                header=[f"Authorization: Bearer {self.api_key}", "User-Agent: atai"],
                timeout=self.connect_timeout,
                enable_multithread=False,
            )
        except websocket.WebSocketBadStatusException as exc:
            status = getattr(exc, "status_code", None)
            why = HANDSHAKE_REFUSALS.get(status, "the WebSocket handshake failed")
            raise status_error(status, self.url, why, resource="session") from exc
        except (OSError, websocket.WebSocketException) as exc:
            raise NetworkError(f"cannot open the session WebSocket {self.url}: {exc}") from exc

    def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                ws.close(timeout=1)
            except Exception:  # closing a dead socket must never mask the real outcome
                pass

    def shutdown(self) -> None:
        """Unblock a receive in progress from another thread (close() alone may not)."""
        ws = self._ws
        sock = getattr(ws, "sock", None) if ws is not None else None
        if sock is not None:
            try:
                import socket

                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def request(self, event_type: str, event_data: Any = None, *, timeout: float | None = None) -> dict:
        """Send one event and return its reply: `<type>.response`, the bare record for
        session.status, or raise for `{"type": "error"}`."""
        if self._ws is None:
            self.connect()
        assert self._ws is not None
        message: dict[str, Any] = {"type": event_type}
        if event_data is not None:
            message["event_data"] = event_data
        payload = request_json(message, event_type)
        self._check_not_closed(event_type)
        self.trace(f"> WS {payload[:300]}")
        try:
            self._ws.send(payload)
        except (OSError, websocket.WebSocketException) as exc:
            self.close()
            raise SocketClosed(f"the session WebSocket dropped while sending {event_type}: {exc}") from exc
        wait = timeout if timeout is not None else self.timeout
        deadline = time.monotonic() + wait
        while True:
            reply = self._receive(event_type, deadline, wait)
            if reply is None:
                continue
            kind = reply.get("type")
            if kind == f"{event_type}.response":
                return reply
            if kind is None and event_type == "session.status" and "session_id" in reply:
                return reply
            if kind == "error":
                raise_error_reply(reply, event_type)
            self.trace(f"< WS skipped unrelated frame of type {kind!r}")

    def _check_not_closed(self, event_type: str) -> None:
        """Before a request: a server that closed the socket since the last reply has sent its
        close frame, which is already waiting. Noticing it here (nothing of this socket's is in
        flight since that reply) tells a plain drop from a reply lost in flight, which costs a
        replay. Keepalive pings and pongs waiting there are answered and passed over."""
        import select

        assert self._ws is not None
        while True:
            sock = self._ws.sock if self._ws is not None else None
            if sock is None:
                return
            pending = getattr(sock, "pending", None)  # TLS may hold a decrypted frame already
            try:
                waiting = bool(pending and pending()) or bool(select.select([sock], [], [], 0)[0])
            except (OSError, ValueError) as exc:
                self.close()
                raise SocketClosed(f"the session WebSocket dropped before {event_type}: {exc}") from exc
            if not waiting:
                return
            try:
                opcode = self._frame(1.0, SocketClosed, f"before {event_type}", control=True)[0]
            except websocket.WebSocketTimeoutException as exc:  # half a frame, and no more of it
                self.close()
                raise SocketClosed(f"the session WebSocket stalled before {event_type}") from exc
            if opcode not in (websocket.ABNF.OPCODE_PING, websocket.ABNF.OPCODE_PONG):
                self.trace("< WS skipped a frame that came between replies")

    def _frame(self, timeout: float, lost: type[SocketClosed], when: str, control: bool = False) -> tuple[int, Any]:
        """The next frame as (opcode, payload): a data frame, or with `control` a ping or pong
        too (a ping is answered either way). A drop or a close frame raises `lost` (SocketClosed
        before a request, ReplyLost while its reply is awaited), a timeout WebSocketTimeoutException."""
        assert self._ws is not None
        self._ws.settimeout(timeout)
        try:
            opcode, data = self._ws.recv_data(control_frame=control)
        except websocket.WebSocketTimeoutException:
            raise
        except (OSError, websocket.WebSocketException) as exc:
            self.close()
            raise lost(f"the session WebSocket dropped {when}: {exc}") from exc
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            self.close()
            raise lost(f"the server closed the session WebSocket {when}")
        return opcode, data

    def _receive(self, event_type: str, deadline: float, wait: float) -> dict | None:
        assert self._ws is not None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise OperationTimeout(f"no reply to {event_type} after {wait:g}s")
        try:
            data = self._frame(remaining, ReplyLost, f"while waiting for {event_type}")[1]
        except websocket.WebSocketTimeoutException as exc:
            raise OperationTimeout(f"no reply to {event_type} after {wait:g}s") from exc
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        # The server echoes the caller's key in session records: it never goes further than here.
        text = redact_text(text, self.api_key)
        self.trace(f"< WS {text[:300]}")
        try:
            reply = json.loads(text)
        except (ValueError, RecursionError):
            self.trace("< WS skipped a non-JSON frame")
            return None
        return reply if isinstance(reply, dict) else None
