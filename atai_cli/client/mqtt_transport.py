"""--forward-to mqtt:// and mqtts://: paho-mqtt 2.x, QoS 1, `{session_id}` in the topic replaced,
retained with ?retain=1. Delivered = the broker's PUBACK.

paho keeps every QoS 1 message until its PUBACK and sends it again (in order, marked DUP) when
it reconnects, which it does by itself with backoff: like librdkafka, the client holds and
retries, and the delivery loop watches the wait against --forward-timeout and says so on stderr.
"""

from __future__ import annotations

import secrets
import ssl
import sys
import threading
import time
from collections import deque
from typing import Callable

import paho.mqtt.client as mqtt

from atai_cli.client.forward_targets import ForwardTarget
from atai_cli.client.transport import BROKER_WINDOW, Attempt, Message, Transport


def connect_failure(exc: BaseException | None) -> str:
    """Why a connection to the broker failed, in words that say what to look at."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"the broker's TLS certificate did not verify ({exc.verify_message}); "
                "name its CA with the profile's mqtt_ca_location or ATAI_MQTT_CA_LOCATION")
    if isinstance(exc, ssl.SSLError):
        return f"TLS with the broker failed ({exc.reason or exc})"
    if isinstance(exc, ConnectionRefusedError) or exc is None:
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "connecting to the broker timed out"
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
    return f"could not connect ({detail})"


class MqttTransport(Transport):
    synchronous = False
    window = BROKER_WINDOW

    def __init__(self, target: ForwardTarget, secret: str, *, timeout: float, settings: dict,
                 trace: Callable[[str], None] | None = None) -> None:
        self.target = target
        self.shown = target.shown
        self.secret = secret
        self._trace = trace
        self._last_error = "not connected yet"
        self._pending: dict[int, tuple[Message, float, Callable]] = {}
        self._acked: deque[int] = deque()  # PUBACKs from paho's thread, matched by poll()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        host, port = target.hosts[0]
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="atai-" + secrets.token_hex(6),
                             protocol=mqtt.MQTTv311)
        username = target.username if target.username is not None else settings.get("username")
        password = target.password if target.password is not None else settings.get("password")
        if username is not None:
            client.username_pw_set(username, password)
        if target.tls:
            context = ssl.create_default_context(cafile=settings.get("ca_location") or None)
            client.tls_set_context(context)
        client.max_inflight_messages_set(BROKER_WINDOW)
        client.reconnect_delay_set(1, 30)  # paho's own backoff while the broker is away
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self.client = client
        client.connect_async(host, port, keepalive=max(5, int(timeout * 3)))
        client.loop_start()

    # paho's thread ------------------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._last_error = f"the broker refused the connection: {reason_code}"
        else:
            self._last_error = ""
        if self._trace:
            self._trace(f"< mqtt {self.shown}: connect {reason_code}")

    def _on_connect_fail(self, client, userdata) -> None:
        # paho calls this from inside its `except OSError:` around the connect: the exception
        # (refused, a name that does not resolve, a certificate that does not verify) is there.
        self._last_error = connect_failure(sys.exc_info()[1])

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._last_error = f"disconnected ({reason_code})"

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self._acked.append(mid)
        self._wake.set()

    # the delivery loop ----------------------------------------------------------------------
    def diagnosis(self) -> str:
        return self._last_error

    def submit(self, message: Message, settle: Callable[[Message, Attempt], None]) -> None:
        topic = self.target.topic.replace("{session_id}", message.session_id)
        if self._trace:
            self._trace(f"> mqtt {self.shown} topic={topic} Atai-Event-Id={message.event_id or ''} "
                        f"({len(message.body)} bytes)")
        try:
            info = self.client.publish(topic, message.body, qos=1, retain=self.target.retain)
        except ValueError as exc:  # a topic or payload MQTT cannot carry: no retry changes that
            settle(message, Attempt("rejected", None, 0.0, str(exc)))
            return
        with self._lock:
            self._pending[info.mid] = (message, time.monotonic(), settle)

    def poll(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            unmatched = []
            while self._acked:
                mid = self._acked.popleft()
                with self._lock:
                    entry = self._pending.pop(mid, None)
                if entry is None:
                    unmatched.append(mid)  # acknowledged before publish() returned its mid
                    continue
                message, started, settle = entry
                settle(message, Attempt("delivered", "puback", (time.monotonic() - started) * 1000))
            self._acked.extendleft(reversed(unmatched))
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._wake.clear()
            if unmatched:
                time.sleep(0.001)  # publish() is about to record its mid
            elif not self._acked:
                self._wake.wait(left)

    def close(self, timeout: float = 0.0) -> None:
        try:
            self.client.disconnect()
            self.client.loop_stop()
        except Exception:  # noqa: BLE001 - closing a client that never connected
            pass
