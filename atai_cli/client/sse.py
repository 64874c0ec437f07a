"""The SSE consumer: connect, decode, resume with Last-Event-ID, back off, detect silence.

The rules (cli-contract.md "tail", sse-rules.md): 200 + text/event-stream opens; 204 ends;
401/403/404 and any other status or content type fail without reconnecting; 429/5xx-gateway
and dropped connections are retried with capped, jittered backoff that starts from the
stream's `retry:` and resets after a healthy stream. A stream silent for the liveness window
(3 heartbeat periods) counts as broken. Events are never yielded twice.
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Callable, Iterator

import httpx

from atai_cli.client.backoff import Backoff, parse_retry_after
from atai_cli.client.events import EventStreamDecoder
from atai_cli.client.rest import RETRY_STATUSES, raise_for_status
from atai_cli.client.stream import (
    STREAM_END, STREAM_HEARTBEAT, OutputEvent, StatusCallback, StreamStatus, remaining,
)
from atai_cli.errors import OperationTimeout, ProtocolError

DEDUP_WINDOW = 4096
_raw_decode = json.JSONDecoder().raw_decode


def parse_json(text: str):
    """json.loads without its per-call overhead on the hot path; raises ValueError likewise."""
    try:
        value, end = _raw_decode(text)
    except ValueError:
        return json.loads(text)  # leading whitespace and friends: let the full parser decide
    if end != len(text) and text[end:].strip():
        raise ValueError("extra data after the JSON document")
    return value


class SseFollower:
    def __init__(
        self,
        http: httpx.Client,
        url: str,
        *,
        api_key: str = "",
        since: str | None = None,
        reconnect_delay: float = 1.0,
        reconnect_cap: float = 30.0,
        liveness: float = 15.0,
        connect_timeout: float = 10.0,
        deadline: float | None = None,
        on_status: StatusCallback | None = None,
        on_open: Callable[[], None] | None = None,
        before_wait: Callable[[], None] | None = None,
        trace: Callable[[str], None] | None = None,
    ) -> None:
        self.http = http
        self.url = url
        self.api_key = api_key
        self.last_event_id = since or ""
        self.backoff = Backoff(base=reconnect_delay, cap=reconnect_cap)
        self.liveness = liveness
        self.connect_timeout = connect_timeout
        self.deadline = deadline
        self.status = StreamStatus(channel="sse", last_event_id=since)
        self._on_status = on_status
        self._on_open = on_open
        self._trace = trace
        # Ids already handed out. Only a reconnect can bring one back (a server replaying more
        # than asked), so membership is checked only until the first new id after a reconnect.
        self._recent_ids: deque[str] = deque(maxlen=DEDUP_WINDOW)
        self._replay_guard: set[str] | None = None
        self._before_wait = before_wait
        self.ended = False
        self.end_reason = ""

    # -- status -------------------------------------------------------------------------
    def _set(self, state: str, detail: str = "", retry_at: float | None = None) -> None:
        self.status.update(state, detail, retry_at)
        if self._trace:
            self._trace(f"! sse {state} {detail}".rstrip())
        if self._on_status:
            self._on_status(self.status)

    def _check_deadline(self) -> None:
        left = remaining(self.deadline)
        if left is not None and left <= 0:
            raise OperationTimeout("--timeout reached before the stream ended")

    def _seen(self, event_id: str) -> bool:
        guard = self._replay_guard
        if guard is not None:
            if event_id in guard:
                return True
            self._replay_guard = None  # past the replayed part: no more checks needed
        self._recent_ids.append(event_id)
        return False

    # -- the loop -----------------------------------------------------------------------
    def __iter__(self) -> Iterator[OutputEvent]:
        connections = 0
        while not self.ended:
            self._check_deadline()
            if connections:
                self.status.reconnects += 1
                self._replay_guard = set(self._recent_ids) if self._recent_ids else None
            connections += 1
            delay = yield from self._connect_once(first=connections == 1)
            if self.ended:
                break
            self._check_deadline()
            left = remaining(self.deadline)
            if left is not None:
                delay = min(delay, max(left, 0))
            self._set("reconnecting", f"in {delay:.1f}s", time.monotonic() + delay)
            time.sleep(delay)
        self._set("ended", self.end_reason)

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
        self._set("connecting", self.url if first else f"resuming after id {self.last_event_id or '(none)'}")
        healthy = False
        try:
            with self.http.stream("GET", self.url, headers=self._headers(), timeout=timeout) as response:
                status = response.status_code
                if status == 204:
                    self.ended, self.end_reason = True, "server ended the stream (204)"
                    return 0.0
                if status in RETRY_STATUSES:
                    hinted = parse_retry_after(response.headers.get("retry-after"))
                    self._set("reconnecting", f"server answered {status}")
                    return hinted if hinted is not None else self.backoff.next_delay()
                if status != 200:
                    response.read()
                    body = None
                    try:
                        body = response.json()
                    except ValueError:
                        pass
                    if status == 404 and not first:
                        self.ended, self.end_reason = True, "session is gone (destroyed)"
                        return 0.0
                    raise_for_status(status, self.url, body, response.text)
                kind = response.headers.get("content-type", "")
                if kind.split(";")[0].strip().lower() != "text/event-stream":
                    raise ProtocolError(
                        f"{self.url} answered with {kind or 'no content type'}, not text/event-stream",
                        hint="is the endpoint right, and does this session use the SSE channel? try --channel read",
                    )
                self._set("connected")
                decoder = EventStreamDecoder(self.last_event_id)
                before_wait = self._before_wait
                for chunk in response.iter_bytes():
                    events = decoder.feed(chunk)
                    if decoder.retry is not None:
                        self.backoff.reset(decoder.retry / 1000.0)
                    for sse in events:
                        healthy = True
                        event = self._to_output(sse)
                        self.last_event_id = sse.last_event_id
                        if event is None:
                            continue
                        if event.type == STREAM_HEARTBEAT:
                            self.status.last_heartbeat = time.monotonic()
                        yield event
                        if event.type == STREAM_END:
                            self.ended, self.end_reason = True, "sse.stream.end"
                            return 0.0
                        if event.type == "sse.stream.start" and self._on_open is not None:
                            self._on_open()
                            self._on_open = None
                    # An id-only block moves the resume point without dispatching an event.
                    self.last_event_id = decoder.last_event_id
                    self.status.last_event_id = self.last_event_id or None
                    if healthy:
                        self._check_deadline()
                    if before_wait is not None:
                        before_wait()  # everything from this read is out before we block again
                decoder.close()
                self._set("reconnecting", "stream closed without sse.stream.end")
        except httpx.ReadTimeout:
            self._check_deadline()
            self._set("reconnecting", f"no data for {read_timeout:.1f}s")
        except (httpx.TransportError,) as exc:
            self._set("reconnecting", f"{type(exc).__name__}: {exc}")
        if healthy:
            self.backoff.reset()
        return self.backoff.next_delay()

    def _to_output(self, sse) -> OutputEvent | None:
        if sse.has_id and self._seen(sse.last_event_id):
            return None  # the server replayed something we already printed
        raw = sse.data
        if self.api_key and self.api_key in raw:
            raw = raw.replace(self.api_key, "***")
        try:
            data = parse_json(raw)
        except ValueError:
            return OutputEvent("sse", sse.last_event_id or None, sse.event, None, raw, raw, ok=False)
        kind = data.get("type") if isinstance(data, dict) else None
        return OutputEvent("sse", sse.last_event_id or None, sse.event, kind, data, raw)

