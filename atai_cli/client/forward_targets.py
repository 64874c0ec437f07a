"""What a --forward-to URL names: an HTTP receiver, Kafka brokers and a topic, or an MQTT broker
and a topic. Parsed and checked before anything starts, so a bad URL exits 2 up front; the
shown form of a URL never carries its password."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from atai_cli.errors import UsageError

DEFAULT_PORTS = {"kafka": 9092, "mqtt": 1883, "mqtts": 8883}
SCHEMES = ("http", "https", "kafka", "mqtt", "mqtts")


@dataclass
class ForwardTarget:
    scheme: str  # http | https | kafka | mqtt | mqtts
    url: str  # as given (it may hold a password: never print it)
    shown: str  # the URL with any password replaced by ***
    hosts: list[tuple[str, int]] = field(default_factory=list)  # brokers
    topic: str = ""
    username: str | None = None
    password: str | None = None
    retain: bool = False

    @property
    def kind(self) -> str:
        return {"https": "http", "mqtts": "mqtt"}.get(self.scheme, self.scheme)

    @property
    def tls(self) -> bool:
        return self.scheme in ("https", "mqtts")


def parse_target(url: str, insecure: bool = False) -> ForwardTarget:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        raise UsageError(f"--forward-to must be an http://, https://, kafka://, mqtt:// or mqtts:// URL, got {_shown(url)!r}")
    if scheme in ("http", "https"):
        return _http(url, insecure)
    if scheme == "kafka":
        return _kafka(url)
    return _mqtt(url, scheme)


def _http(url: str, insecure: bool) -> ForwardTarget:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number in range
    except ValueError as exc:
        raise UsageError(f"--forward-to {url!r} is not a valid URL: {exc}") from exc
    if not parts.hostname:
        raise UsageError(f"--forward-to must be an http:// or https:// URL, got {url!r}")
    if parts.scheme == "http" and not insecure and not is_loopback(parts.hostname):
        raise UsageError(
            f"--forward-to {url}: plain http is allowed only to a loopback host (127.0.0.1, ::1, localhost)",
            hint="use https, or pass --insecure-forward to send events unencrypted",
        )
    return ForwardTarget(parts.scheme, url, url)


def _kafka(url: str) -> ForwardTarget:
    """kafka://HOST:PORT[,HOST:PORT...]/TOPIC (urlsplit refuses a list of hosts: split by hand)."""
    rest = url.split("://", 1)[1]
    hosts_text, _, topic = rest.partition("/")
    topic = unquote(topic.split("?", 1)[0])
    if "@" in hosts_text:
        raise UsageError("--forward-to kafka://: put no credentials in the URL",
                         hint="set KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD, or the profile's kafka_sasl_* settings")
    hosts = [_host_port(item, "kafka", url) for item in hosts_text.split(",")]
    _check_topic(topic, url, "kafka://HOST:PORT/TOPIC")
    if not all(c.isalnum() or c in "._-" for c in topic) or len(topic) > 249:
        raise UsageError(f"--forward-to {url}: a Kafka topic is up to 249 letters, digits, '.', '_' and '-', got {topic!r}")
    return ForwardTarget("kafka", url, url, hosts=hosts, topic=topic)


def _mqtt(url: str, scheme: str) -> ForwardTarget:
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise UsageError(f"--forward-to {_shown(url)!r} is not a valid URL: {exc}") from exc
    shown = _shown(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    host = _host_port(netloc, scheme, shown)
    topic = unquote(parts.path[1:])
    _check_topic(topic, shown, f"{scheme}://HOST:PORT/TOPIC")
    if "+" in topic or "#" in url:  # urlsplit would take a # for a fragment
        raise UsageError(f"--forward-to {shown}: an MQTT topic to publish to cannot hold the wildcards + or #")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"retain"})
    if unknown:
        raise UsageError(f"--forward-to {shown}: unknown parameter {unknown[0]!r} (only ?retain=1)")
    retain_values = query.get("retain", ["0"])
    if retain_values[-1] not in ("0", "1", "true", "false"):
        raise UsageError(f"--forward-to {shown}: retain must be 1 or 0, got {retain_values[-1]!r}")
    return ForwardTarget(scheme, url, shown, hosts=[host], topic=topic,
                         username=unquote(parts.username) if parts.username else None,
                         password=unquote(parts.password) if parts.password is not None else None,
                         retain=retain_values[-1] in ("1", "true"))


def _host_port(text: str, scheme: str, shown: str) -> tuple[str, int]:
    text = text.strip()
    if text.startswith("["):  # [::1]:9092
        host, _, port_text = text[1:].partition("]")
        port_text = port_text.removeprefix(":")
    else:
        host, _, port_text = text.rpartition(":") if ":" in text else (text, "", "")
    if not host:
        raise UsageError(f"--forward-to {shown}: a broker host is missing ({scheme}://HOST:PORT/TOPIC)")
    if not port_text:
        return host, DEFAULT_PORTS[scheme]
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"--forward-to {shown}: the port of {host} must be a number from 1 to 65535, got {port_text!r}")
    return host, int(port_text)


def _check_topic(topic: str, shown: str, form: str) -> None:
    if not topic:
        raise UsageError(f"--forward-to {shown}: the topic is missing ({form})")


def _shown(url: str) -> str:
    """The URL with the password of its user:password@ part (if any) replaced by ***."""
    if "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    netloc, slash, tail = rest.partition("/")
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{host}"
    return f"{scheme}://{netloc}{slash}{tail}"


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# KAFKA_* variables atai reads (others, such as KAFKA_HOME or KAFKA_OPTS, belong to Kafka's own
# tools), each to its librdkafka property; they win over the profile's kafka_* settings.
KAFKA_VARIABLES = {
    "KAFKA_SECURITY_PROTOCOL": "security.protocol", "KAFKA_SASL_MECHANISM": "sasl.mechanism",
    "KAFKA_SASL_USERNAME": "sasl.username", "KAFKA_SASL_PASSWORD": "sasl.password",
    "KAFKA_SSL_CA_LOCATION": "ssl.ca.location", "KAFKA_SSL_CERTIFICATE_LOCATION": "ssl.certificate.location",
    "KAFKA_SSL_KEY_LOCATION": "ssl.key.location", "KAFKA_SSL_KEY_PASSWORD": "ssl.key.password",
    "KAFKA_MESSAGE_MAX_BYTES": "message.max.bytes",
}
PROFILE_KAFKA = {"kafka_security_protocol": "security.protocol", "kafka_sasl_mechanism": "sasl.mechanism",
                 "kafka_sasl_username": "sasl.username", "kafka_sasl_password": "sasl.password",
                 "kafka_ssl_ca_location": "ssl.ca.location"}
PROTOCOLS = ("plaintext", "ssl", "sasl_plaintext", "sasl_ssl")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _check_choice(kafka: dict, prop: str, normal, allowed, what: str, variable: str) -> None:
    """Normalises the case of a Kafka setting librdkafka would only reject at connect time,
    and refuses it now, naming where it came from, when it is not one of `allowed`."""
    value = kafka.get(prop)
    if value is None:
        return
    kafka[prop] = value = normal(value)
    if value not in allowed:
        raise UsageError(f"Kafka {what} {value!r} is not one of {', '.join(allowed)}",
                         hint=f"set {variable} or the profile's {variable.lower()}")


def broker_settings(settings, environ) -> dict:
    """The brokers' credentials and TLS files: {"kafka": librdkafka properties, "mqtt": {...}},
    from KAFKA_* variables, else the profile (`settings`, the Settings model)."""
    kafka: dict[str, str] = {}
    for name, prop in PROFILE_KAFKA.items():
        value = _plain(getattr(settings, name, None))
        if value:
            kafka[prop] = value
    for name, prop in KAFKA_VARIABLES.items():
        if environ.get(name):
            kafka[prop] = environ[name]
    if "sasl.username" in kafka:
        kafka.setdefault("security.protocol", "sasl_ssl")
        kafka.setdefault("sasl.mechanism", "PLAIN")
    _check_choice(kafka, "security.protocol", str.lower, PROTOCOLS, "security protocol", "KAFKA_SECURITY_PROTOCOL")
    _check_choice(kafka, "sasl.mechanism", str.upper, MECHANISMS, "SASL mechanism", "KAFKA_SASL_MECHANISM")
    if "message.max.bytes" in kafka and not str(kafka["message.max.bytes"]).isdigit():
        raise UsageError(f"KAFKA_MESSAGE_MAX_BYTES must be a number of bytes, got {kafka['message.max.bytes']!r}")
    mqtt = {"username": _plain(getattr(settings, "mqtt_username", None)),
            "password": _plain(getattr(settings, "mqtt_password", None)),
            "ca_location": _plain(getattr(settings, "mqtt_ca_location", None))}
    return {"kafka": kafka, "mqtt": {k: v for k, v in mqtt.items() if v}}


def _plain(value) -> str | None:
    if value is None:
        return None
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
