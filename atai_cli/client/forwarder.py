"""--forward-to: hand each event to the user's receiver or broker, signed, retried until it is
delivered. One delivery loop (Forwarder); what differs per kind of target is a transport.

Per session, events go in stream order through a lane of at most `window` events in flight: 1
for HTTP (one request at a time, the caller holds the session's stream meanwhile), more for a
broker (a producer batches and keeps one partition's order itself). An event is settled when it
is delivered (2xx, a Kafka delivery report without error, an MQTT PUBACK) or rejected for good;
whatever waits to move past an event (the session's cursor) runs only once it and every event
before it in its lane are settled. Failures are retried with capped, jittered backoff for as
long as the command runs: HTTP by this loop, brokers by their client, which keeps the message
(and its order) while it reconnects; this loop watches each attempt's timeout and says on
stderr that it is retrying and when it recovered. The API key never goes here
(docs/forwarding.md).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable

import httpx

from atai_cli.client.backoff import Backoff, parse_retry_after
from atai_cli.client.forward_targets import ForwardTarget, is_loopback, parse_target  # noqa: F401 - is_loopback re-exported
from atai_cli.client.http_client import new_http_client
from atai_cli.client.transport import BROKER_WINDOW, Attempt, Message, Transport  # noqa: F401 - re-exported
from atai_cli.errors import UsageError

RETRY_STATUSES = frozenset({408, 429})


def check_forward_url(url: str, insecure: bool = False) -> str:
    """Any --forward-to URL checked before anything starts (exit 2 when it is bad)."""
    parse_target(url, insecure)
    return url


def header_value(text: str) -> str:
    """Server data made safe for an HTTP header: printable ASCII, the rest percent-encoded."""
    from urllib.parse import quote

    return quote(text, safe="".join(chr(c) for c in range(0x20, 0x7f) if chr(c) not in "%"))


class _Lane:
    """One session's events in flight, oldest first."""

    def __init__(self) -> None:
        self.inflight: deque[Message] = deque()
        self.cond = threading.Condition()
        self.reported_at = 0.0  # when the oldest event's last "retrying" line was written
        self.troubled_since: float | None = None


class Forwarder:
    def __init__(self, transport: Transport, secret: str, *, timeout: float = 10.0, retry_delay: float = 0.5,
                 retry_cap: float = 30.0) -> None:
        self.transport = transport
        self.secret = secret
        self.timeout = timeout
        self.retry_delay = retry_delay
        self.retry_cap = retry_cap
        self.url = transport.shown  # without any password
        self._lanes: dict[str, _Lane] = {}
        self._lanes_lock = threading.Lock()
        self._closing = threading.Event()
        self._service: threading.Thread | None = None
        if not transport.synchronous:
            self._service = threading.Thread(target=self._serve, name="forward", daemon=True)
            self._service.start()

    # -- the lanes ------------------------------------------------------------------------
    def _lane(self, session_id: str) -> _Lane:
        with self._lanes_lock:
            lane = self._lanes.get(session_id)
            if lane is None:
                lane = self._lanes[session_id] = _Lane()
            return lane

    def after_settled(self, session_id: str, action: Callable[[], None]) -> None:
        """Run `action` once every event of this session handed over so far is settled."""
        lane = self._lane(session_id)
        with lane.cond:
            if lane.inflight:
                lane.inflight[-1].after.append(action)
                return
        action()

    def in_flight(self) -> int:
        with self._lanes_lock:
            lanes = list(self._lanes.values())
        return sum(len(lane.inflight) for lane in lanes)

    def wait_settled(self, patience: float) -> bool:
        """Wait until nothing is in flight, for as long as acknowledgements keep coming; False
        when `patience` seconds passed without one and something is still in flight."""
        waiting = self.in_flight()
        last_progress = time.monotonic()
        while waiting:
            time.sleep(0.005)
            now_waiting = self.in_flight()
            if now_waiting < waiting:
                last_progress = time.monotonic()
            waiting = now_waiting
            if waiting and time.monotonic() - last_progress >= patience:
                return False
        return True

    # -- delivering -------------------------------------------------------------------------
    def deliver(self, body: bytes, *, session_id: str, event_id: str | None, event_type: str | None,
                stop: threading.Event, report: Callable[[Attempt], None]) -> Attempt | None:
        """Hand one event on. Synchronous transports: send until delivered or rejected (or `stop`
        is set: cancelled). Asynchronous ones: wait for room in the session's window, hand it
        over and return None (it settles later; `after_settled` runs what waits for it)."""
        message = Message(body, session_id, event_id, event_type, report)
        lane = self._lane(session_id)
        with lane.cond:
            while len(lane.inflight) >= self.transport.window:
                if stop.is_set():
                    return Attempt("cancelled", None, 0.0, "stopped before it was delivered")
                lane.cond.wait(0.1)
            lane.inflight.append(message)
        message.started = message.first_started = time.monotonic()
        if not self.transport.synchronous:
            self.transport.submit(message, self._settle)
            return None
        attempt = self._send_until_settled(message, stop)
        with lane.cond:
            lane.inflight.remove(message)
            lane.cond.notify_all()
        return attempt

    def _send_until_settled(self, message: Message, stop: threading.Event) -> Attempt:
        backoff = Backoff(base=self.retry_delay, cap=self.retry_cap)
        while True:
            message.started = time.monotonic()
            attempt = self.transport.send(message)
            if attempt.outcome != "retry":
                attempt.retries = message.retries
                message.report(attempt)
                return attempt
            if attempt.retry_in is None:
                attempt.retry_in = backoff.next_delay()
            message.retries += 1
            message.report(attempt)
            if stop.wait(attempt.retry_in):
                return Attempt("cancelled", attempt.status, attempt.ms, "stopped before it was delivered")

    def _settle(self, message: Message, attempt: Attempt) -> None:
        """An asynchronous transport's answer for one attempt (any thread)."""
        lane = self._lane(message.session_id)
        if attempt.outcome == "retry":
            # The client gave the message back: send it again after a backoff (the service
            # thread does), with this session waiting meanwhile (its window stays taken).
            message.retries += 1
            attempt.retry_in = attempt.retry_in or Backoff(base=self.retry_delay, cap=self.retry_cap,
                                                           attempt=message.retries - 1).next_delay()
            message.report(attempt)
            message.token = ("resend", time.monotonic() + attempt.retry_in)
            return
        attempt.retries = message.retries
        attempt.ms = (time.monotonic() - message.first_started) * 1000
        message.settled = attempt
        message.report(attempt)
        done: list[Callable[[], None]] = []
        with lane.cond:
            while lane.inflight and lane.inflight[0].settled is not None:
                done.extend(lane.inflight.popleft().after)
            if not lane.inflight or lane.inflight[0].retries == 0:
                lane.troubled_since = None
            lane.cond.notify_all()
        for action in done:
            action()

    def _serve(self) -> None:
        """For asynchronous transports: serve the client's callbacks, resend what it gave back,
        and say when the oldest event of a session waits longer than the forward timeout."""
        while not self._closing.is_set():
            try:
                self.transport.poll(0.05)
            except Exception:  # noqa: BLE001 - a callback's bug must not stop every delivery
                pass
            now = time.monotonic()
            with self._lanes_lock:
                lanes = list(self._lanes.values())
            for lane in lanes:
                with lane.cond:
                    head = lane.inflight[0] if lane.inflight else None
                    resend = [m for m in lane.inflight if isinstance(m.token, tuple) and m.token[0] == "resend"
                              and m.token[1] <= now]
                if head is None:
                    continue
                for message in resend:
                    message.token = None
                    message.started = now
                    self.transport.submit(message, self._settle)
                if head.settled is None and now - max(head.started, lane.reported_at) >= self.timeout:
                    lane.reported_at = now
                    head.retries += 1
                    why = self.transport.diagnosis() or "the broker did not answer"
                    head.report(Attempt("retry", None, (now - head.first_started) * 1000,
                                        f"not acknowledged within {self.timeout:g}s: {why}"))

    def close(self) -> None:
        self._closing.set()
        if self._service is not None:
            self._service.join(2.0)
        self.transport.close()


# -- HTTP ---------------------------------------------------------------------------------------
class HttpTransport(Transport):
    """POST to the receiver. 2xx is delivered; connection errors, timeouts, 408, 429 (Retry-After
    honoured) and 5xx are retried; anything else, redirects included, rejects that one event.
    Its own HTTP client, with no Authorization header."""

    def __init__(self, url: str, secret: str, *, timeout: float = 10.0,
                 trace: Callable[[str], None] | None = None) -> None:
        self.url = self.shown = url
        self.secret = secret
        self._trace = trace
        self.http = new_http_client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,  # a redirect is a rejection, reported, never followed
            headers={"User-Agent": "atai"},
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )

    def close(self, timeout: float = 0.0) -> None:
        self.http.close()

    def send(self, message: Message) -> Attempt:
        body = message.body
        headers = {"Content-Type": "application/json",
                   **{name: header_value(value) for name, value in message.headers(self.secret).items()}}
        started = time.monotonic()
        if self._trace:
            self._trace(f"> POST {self.url} Atai-Session-Id={message.session_id} "
                        f"Atai-Event-Id={message.event_id or ''} ({len(body)} bytes)")
        try:
            # The status is the answer; the body is never read (nor decoded).
            with self.http.stream("POST", self.url, content=body, headers=headers) as response:
                status: int | None = response.status_code
                detail = response.reason_phrase
                retry_after = parse_retry_after(response.headers.get("retry-after")) if status == 429 else None
                _drain(response)
        except httpx.TimeoutException:
            status, detail, retry_after = None, "timed out", None
        except (httpx.LocalProtocolError, httpx.UnsupportedProtocol) as exc:
            # Nothing a retry would change: reject this event rather than stall the session.
            return Attempt("rejected", None, (time.monotonic() - started) * 1000, f"cannot send it: {exc}")
        except httpx.RequestError as exc:  # connection refused, reset, a protocol error of the receiver
            status, detail, retry_after = None, _short(exc), None
        ms = (time.monotonic() - started) * 1000
        if status is not None and 200 <= status < 300:
            return Attempt("delivered", status, ms)
        if status is not None and status < 500 and status not in RETRY_STATUSES:
            return Attempt("rejected", status, ms, detail or "")
        return Attempt("retry", status, ms, detail or "", retry_after)


def _drain(response: httpx.Response, limit: int = 64 * 1024) -> None:
    """Read (a bounded amount of) the body, undecoded, so the connection can be kept alive."""
    seen = 0
    for chunk in response.iter_raw():
        seen += len(chunk)
        if seen > limit:
            break


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return "connection refused" if "refused" in text.lower() else text


# -- choosing ---------------------------------------------------------------------------------
EXTRAS = {"kafka": ("confluent_kafka", "kafka"), "mqtt": ("paho", "mqtt")}


def make_forwarder(url: str, secret: str, *, timeout: float = 10.0, insecure: bool = False,
                   broker: dict | None = None, trace: Callable[[str], None] | None = None) -> Forwarder:
    """The forwarder for a --forward-to URL; `broker` holds the credentials and TLS settings
    (forward_targets.broker_settings). A broker's client library missing: exit 2 naming the extra."""
    target = parse_target(url, insecure)
    broker = broker or {}
    if target.kind == "http":
        transport: Transport = HttpTransport(url, secret, timeout=timeout, trace=trace)
    elif target.kind == "kafka":
        require_extra("kafka")
        from atai_cli.client.kafka_transport import KafkaTransport

        transport = KafkaTransport(target, secret, timeout=timeout, settings=broker.get("kafka", {}), trace=trace)
    else:
        require_extra("mqtt")
        from atai_cli.client.mqtt_transport import MqttTransport

        transport = MqttTransport(target, secret, timeout=timeout, settings=broker.get("mqtt", {}), trace=trace)
    return Forwarder(transport, secret, timeout=timeout)


def require_extra(kind: str) -> None:
    """The client library of a broker, or exit 2 naming the extra that installs it."""
    import importlib

    module, extra = EXTRAS[kind]
    try:
        importlib.import_module(module if kind == "kafka" else "paho.mqtt.client")
    except ImportError as exc:
        raise UsageError(f"--forward-to {kind}:// needs the {kind} client library, which is not installed",
                         hint=f"pip install 'atai-cli[{extra}]'") from exc
