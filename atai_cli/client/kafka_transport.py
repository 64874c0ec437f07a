"""--forward-to kafka://: an idempotent confluent-kafka (librdkafka) producer waiting for all
in-sync replicas. The record key is the session id (one session, one partition, in order), the
value the JSON line, the headers those of an HTTP forward.

librdkafka keeps a message and retries it itself while a broker is down, in order and without
duplicates (the idempotent producer numbers each partition's records). So the message timeout
is infinite (message.timeout.ms=0): a message never expires into a silent loss, and this
transport never has to send a copy that could overtake or repeat one still in the client. The
delivery loop watches each event's wait against --forward-timeout and says on stderr that it
is retrying, with what librdkafka last reported (connection refused, ...).
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from confluent_kafka import KafkaError, KafkaException, Producer

from atai_cli.client.forward_targets import ForwardTarget
from atai_cli.client.transport import Attempt, Message, Transport, BROKER_WINDOW
from atai_cli.errors import UsageError

# Refused for good: a retry would get the same answer. Everything else is retried.
REJECTED = frozenset(getattr(KafkaError, name) for name in (
    "MSG_SIZE_TOO_LARGE", "RECORD_LIST_TOO_LARGE", "INVALID_MSG_SIZE", "INVALID_MSG", "INVALID_RECORD",
    "TOPIC_AUTHORIZATION_FAILED", "CLUSTER_AUTHORIZATION_FAILED", "TOPIC_EXCEPTION", "POLICY_VIOLATION",
    "_INVALID_ARG", "INVALID_REQUIRED_ACKS",
) if hasattr(KafkaError, name))  # names differ between client versions
FIXED = {"enable.idempotence": True, "acks": "all", "message.timeout.ms": 0}


class KafkaTransport(Transport):
    synchronous = False
    window = BROKER_WINDOW

    def __init__(self, target: ForwardTarget, secret: str, *, timeout: float, settings: dict,
                 trace: Callable[[str], None] | None = None) -> None:
        self.target = target
        self.topic = target.topic
        self.secret = secret
        self.shown = target.shown
        self._trace = trace
        self._last_error = ""
        self._last_error_at = 0.0
        self.config = {
            "bootstrap.servers": ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in target.hosts),
            "client.id": "atai",
            "linger.ms": 2,  # a batch per couple of milliseconds across all sessions
            "request.timeout.ms": max(1000, int(timeout * 1000)),
            # The same curve as HTTP retries: 0.5 s doubling to 30 s (librdkafka adds jitter).
            "reconnect.backoff.ms": 500, "reconnect.backoff.max.ms": 30000,
            "retry.backoff.ms": 500, "retry.backoff.max.ms": 30000,
            **settings,
            **FIXED,
            "error_cb": self._on_error,
            "logger": _Log(self),
        }
        try:
            self.producer = Producer(self.config)
        except KafkaException as exc:
            raise UsageError(f"--forward-to {self.shown}: the Kafka client refused its settings: {_text(exc)}",
                             hint="check the KAFKA_* variables and the profile's kafka_* settings") from exc
        self._lock = threading.Lock()

    def _on_error(self, error: KafkaError) -> None:
        self._last_error, self._last_error_at = _error_text(error), time.monotonic()
        if self._trace:
            self._trace(f"< kafka {self.shown}: {self._last_error}")

    def diagnosis(self) -> str:
        return self._last_error

    def submit(self, message: Message, settle: Callable[[Message, Attempt], None]) -> None:
        headers = [(name, value.encode("utf-8")) for name, value in message.headers(self.secret).items()]
        started = time.monotonic()

        def delivered(error, record) -> None:
            ms = (time.monotonic() - started) * 1000
            if error is None:
                settle(message, Attempt("delivered", "ack", ms, f"partition {record.partition()} offset {record.offset()}"))
            elif error.code() == KafkaError._PURGE_QUEUE:
                pass  # close() dropped it unsent: still in flight, counted as not delivered (no "retrying in")
            elif error.code() in REJECTED:
                settle(message, Attempt("rejected", error.name(), ms, _error_text(error)))
            else:
                settle(message, Attempt("retry", error.name(), ms, _error_text(error)))

        if self._trace:
            self._trace(f"> kafka {self.shown} key={message.session_id} "
                        f"Atai-Event-Id={message.event_id or ''} ({len(message.body)} bytes)")
        while True:
            try:
                self.producer.produce(self.topic, value=message.body, key=message.session_id.encode("utf-8"),
                                      headers=headers, on_delivery=delivered)
                return
            except BufferError:
                self.producer.poll(0.05)  # the client's queue is full: let it drain
            except KafkaException as exc:
                error = exc.args[0]
                outcome = "rejected" if error.code() in REJECTED else "retry"
                settle(message, Attempt(outcome, error.name(), 0.0, _error_text(error)))
                return

    def poll(self, timeout: float) -> None:
        self.producer.poll(timeout)

    def close(self, timeout: float = 0.0) -> None:
        # What was not acknowledged by now stays unsent: the cursor is before it, so a restart
        # sends it; sending it after the cursor was saved would only make a repeat.
        try:
            self.producer.purge(in_queue=True, in_flight=False)
            self.producer.flush(timeout)
        except (KafkaException, RuntimeError):
            pass


class _Log:
    """librdkafka's log lines, kept for --debug instead of written raw to stderr."""

    def __init__(self, transport: KafkaTransport) -> None:
        self.transport = transport

    def log(self, level, message, *args) -> None:
        text = message % args if args else str(message)
        if self.transport._trace:
            self.transport._trace(f"< kafka: {text}")


def _error_text(error: KafkaError) -> str:
    text = error.str() or error.name()
    if "refused" in text.lower():
        return f"connection refused ({text})"
    if error.code() == KafkaError._AUTHENTICATION:
        return (f"{text}; check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD "
                "(or the profile's kafka_sasl_* settings)")
    return text


def _text(exc: KafkaException) -> str:
    arg = exc.args[0] if exc.args else exc
    return arg.str() if isinstance(arg, KafkaError) else str(arg)
