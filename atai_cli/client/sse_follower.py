"""The SSE consumer: connect, decode, resume with Last-Event-ID, back off, detect silence.

The rules (cli-contract.md "tail", sse-rules.md): 200 + text/event-stream opens; 204 ends;
401/403/404 and any other status or content type fail without reconnecting; 429/5xx-gateway
and dropped connections are retried with capped, jittered backoff that starts from the
stream's `retry:` and resets after a healthy stream. A stream silent for the liveness window
(3 heartbeat periods) counts as broken. Events are never yielded twice.
"""

from __future__ import annotations

import json
import select
import socket
import ssl
import time
from collections import deque
from typing import Callable, Iterator

import httpx

from atai_cli.client.followers import Follower, describe_failure
from atai_cli.client.rest import RETRY_STATUSES, RedirectLoop, raise_for_status
from atai_cli.client.sse_decoder import EventStreamDecoder, StreamTooLarge
from atai_cli.errors import ProtocolError
from atai_cli.protocol.events import ENVELOPE_PREFIX, STREAM_END, STREAM_HEARTBEAT, STREAM_START, OutputEvent, payload_type, remaining

DEDUP_WINDOW = 4096
_raw_decode = json.JSONDecoder().raw_decode


def flush_before_blocking(response: httpx.Response, flush: Callable[[], None]) -> Callable[[], None] | None:
    """Call `flush` right before a read of the response's socket that would wait for data.

    httpx yields one piece per HTTP chunk, and a server may put each SSE record in a chunk of
    its own: flushing stdout after each piece costs a write per event. Lines are instead pushed
    out only when the socket has nothing more to give (nothing buffered by the kernel or TLS),
    that is, when atai is about to wait: a burst costs one write per read of the socket (or per
    8 KiB of lines), and the last line of a burst is out the moment the stream goes quiet.
    Works on httpcore's stream of this connection (its `read`, wrapped for this response
    only); returns the undo, or None when the stream is not one of a plain socket (the caller
    then flushes after every piece, as before)."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if not isinstance(sock, socket.socket) or "read" in vars(stream) or not callable(getattr(stream, "read", None)):
        return None
    try:
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
    except (OSError, ValueError, AttributeError):
        return None
    tls = sock if isinstance(sock, ssl.SSLSocket) else None
    poll = poller.poll
    real_read = stream.read

    def read(max_bytes: int, timeout: float | None = None) -> bytes:
        if not (tls is not None and tls.pending()) and not poll(0):
            flush()
        return real_read(max_bytes, timeout)

    stream.read = read

    def restore() -> None:
        vars(stream).pop("read", None)  # the pooled connection reads as before

    return restore


class NotAnEventStream(ProtocolError):
    """The consumer URL answered 200 with something other than text/event-stream."""


class SseFollower(Follower):
    channel = "sse"

    def __init__(
        self,
        http: httpx.Client,
        url: str,
        *,
        api_key: str = "",
        since: str | None = None,
        liveness: float = 15.0,
        connect_timeout: float = 10.0,
        on_open: Callable[[], None] | None = None,
        **common,
    ) -> None:
        super().__init__(**common)
        self.http = http
        self.url = url
        self.api_key = api_key
        self.last_event_id = since or ""
        self.status.last_event_id = since
        self.liveness = liveness
        self.connect_timeout = connect_timeout
        self._on_open = on_open
        # Ids already handed out. Only a reconnect can bring one back (a server replaying more
        # than asked), so membership is checked only until the first new id after a reconnect.
        self._recent_ids: deque[str] = deque(maxlen=DEDUP_WINDOW)
        self._replay_guard: set[str] | None = None
        self._response: httpx.Response | None = None

    def _interrupt(self) -> None:
        """Shut the socket of the stream being read, so a blocked read returns now."""
        response = self._response
        if response is None:
            return
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- the loop -----------------------------------------------------------------------
    def __iter__(self) -> Iterator[OutputEvent]:
        connections = 0
        while not self.ended and not self.stopped:
            self._check_deadline()
            if connections:
                self.status.reconnects += 1
                self._replay_guard = set(self._recent_ids) if self._recent_ids else None
            connections += 1
            delay = yield from self._connect_once(first=connections == 1)
            if self.ended or self.stopped:
                break
            self._sleep(delay)
        self._set("ended", self.end_reason or ("stopped" if self.stopped else ""))

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        return headers

    def _connect_once(self, first: bool) -> Iterator[OutputEvent]:
        """One connection. Returns (via StopIteration value) the delay before the next one."""
        left = remaining(self.deadline)
        read_timeout = self.liveness if left is None else max(0.05, min(self.liveness, left))
        timeout = httpx.Timeout(connect=self.connect_timeout, read=read_timeout, write=10.0, pool=10.0)
        if first:
            self._set("connecting", self.url)
        try:
            with self.http.stream("GET", self.url, headers=self._headers(), timeout=timeout) as response:
                self._response = response
                delay = self._check_response(response, first)
                if delay is not None:
                    return delay
                self._set("connected", "" if first else f"resumed after id {self.last_event_id or '(none)'}")
                yield from self._read(response)
                if self.ended or self.stopped:
                    return 0.0
                cause = "stream closed without sse.stream.end"
        except httpx.ReadTimeout:
            self._check_deadline()
            cause = f"no data for {read_timeout:.1f}s"
        except RedirectLoop as exc:
            raise ProtocolError(str(exc)) from exc
        except httpx.TransportError as exc:
            if self.stopped:
                return 0.0
            cause = describe_failure(exc)
        finally:
            self._response = None
        return self._retry_in(cause)

    def _check_response(self, response: httpx.Response, first: bool) -> float | None:
        """None when the stream is open; else the delay before retrying (or raise/end)."""
        status = response.status_code
        if status == 204:
            self.ended, self.end_reason = True, "server ended the stream (204)"
            return 0.0
        if status in RETRY_STATUSES:
            from atai_cli.client.backoff import parse_retry_after

            return self._retry_in(f"server answered {status}", parse_retry_after(response.headers.get("retry-after")))
        if status != 200:
            response.read()
            body = None
            try:
                body = response.json()
            except (ValueError, RecursionError):
                pass
            if status == 404 and not first:
                return 0.0 if self._gone() else self._retry_in("server answered 404")
            raise_for_status(status, self.url, body, response.text)
        kind = response.headers.get("content-type", "")
        if kind.split(";")[0].strip().lower() != "text/event-stream":
            raise NotAnEventStream(f"{self.url} answered with {kind or 'no content type'}, not text/event-stream")
        return None

    def _read(self, response: httpx.Response) -> Iterator[OutputEvent]:
        restore = flush_before_blocking(response, self._flush) if self._before_wait is not None else None
        try:
            yield from self._decode(response, flush_each_read=restore is None)
        finally:
            if restore is not None:
                restore()

    def _decode(self, response: httpx.Response, flush_each_read: bool) -> Iterator[OutputEvent]:
        decoder = EventStreamDecoder(self.last_event_id)
        healthy = False
        feed = decoder.feed
        to_output = self._to_output
        # Without a content coding the bytes are the body: iter_raw skips a decoder and a chunker per read.
        coded = response.headers.get("content-encoding", "identity").strip().lower() not in ("", "identity")
        for chunk in response.iter_bytes() if coded else response.iter_raw():
            try:
                events = feed(chunk)
            except StreamTooLarge as exc:
                raise ProtocolError(f"{self.url} sent {exc}") from exc
            if decoder.retry is not None:
                self.backoff.reset(decoder.retry / 1000.0)
            if events and not healthy:
                healthy = True
                self._healthy()
            for sse in events:
                event = to_output(sse)
                self.last_event_id = sse.last_event_id
                if event is None:
                    continue
                kind = event.type
                if kind is None or not kind.startswith(ENVELOPE_PREFIX):  # lens output: nothing to watch for
                    yield event
                    continue
                if kind == STREAM_HEARTBEAT:
                    self.status.last_heartbeat = time.monotonic()
                yield event
                if kind == STREAM_END:
                    self.ended, self.end_reason = True, "sse.stream.end"
                    return
                if kind == STREAM_START and self._on_open is not None:
                    on_open, self._on_open = self._on_open, None
                    on_open()
            # An id-only block moves the resume point without dispatching an event.
            self.last_event_id = decoder.last_event_id
            self.status.last_event_id = self.last_event_id or None
            if healthy:
                self._check_deadline()
            if self.stopped:
                return
            if flush_each_read:
                self._flush()  # everything from this read is out before we may block again
        decoder.close()

    def _to_output(self, sse) -> OutputEvent | None:
        if sse.has_id:
            event_id = sse.last_event_id
            guard = self._replay_guard
            if guard is not None:  # after a reconnect: until the first new id, a replayed id is dropped
                if event_id in guard:
                    return None  # the server replayed something we already printed
                self._replay_guard = None
            self._recent_ids.append(event_id)
        raw = sse.data
        api_key = self.api_key
        if api_key and api_key in raw:
            raw = raw.replace(api_key, "***")
        try:
            data, end = _raw_decode(raw)  # json.loads without its per-call overhead
            if end != len(raw) and raw[end:].strip():
                raise ValueError("extra data after the JSON document")
        except (ValueError, RecursionError):  # RecursionError: nested thousands deep, bad data
            try:
                data = json.loads(raw)  # leading whitespace and friends: let the full parser decide
            except (ValueError, RecursionError):
                return OutputEvent("sse", sse.last_event_id or None, sse.event, None, raw, raw, False, self.session_id)
        return OutputEvent("sse", sse.last_event_id or None, sse.event, payload_type(data), data, raw, True, self.session_id)
