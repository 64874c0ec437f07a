"""Settings: flags > ATAI_* environment > the profile's table in config.toml > defaults.

A plain pydantic model over three sources gathered here. pydantic-settings would do the same
merge through its source classes, but importing it (with asyncio, argparse and python-dotenv)
cost about 1.5x a bare interpreter start on every API command for nothing atai uses
(benchmarks/README.md, "Settings"). Every value is validated at the door (exit 2 naming the
setting and where it came from), so a bad value never surfaces later as a strange network error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from atai_cli.config_file import read_config
from atai_cli.errors import UsageError

DEFAULT_ENDPOINT = "https://api.u1.archetypeai.app/v0.5"
ENV_PREFIX = "ATAI_"
SECRET_SETTINGS = frozenset({"api_key", "forward_secret", "kafka_sasl_password", "mqtt_password"})


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    api_key: SecretStr | None = None
    api_endpoint: str = DEFAULT_ENDPOINT
    timeout: float = Field(30.0, gt=0, description="seconds per REST request")
    max_retries: int = Field(4, ge=0, le=100, description="REST retries on connection errors, 429 and 5xx")
    retry_delay: float = Field(0.5, ge=0, description="first REST retry delay; doubles up to 30 s")
    reconnect_delay: float = Field(1.0, gt=0, description="first SSE/WebSocket reconnect delay; doubles up to 30 s")
    reconnect_give_up: float | None = Field(None, gt=0, description="stop reconnecting after this many seconds (default: never)")
    client_id: str | None = Field(None, min_length=1, description="session.read cursor id (default: one kept per profile)")
    forward_secret: SecretStr | None = None
    # --forward-to kafka:// and mqtt:// credentials (docs/forwarding.md); KAFKA_* variables win.
    kafka_security_protocol: str | None = Field(None, description="plaintext, ssl, sasl_plaintext or sasl_ssl")
    kafka_sasl_mechanism: str | None = Field(None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_location: str | None = Field(None, description="CA certificate file for Kafka TLS")
    mqtt_username: str | None = Field(None, description="MQTT login when the URL has none")
    mqtt_password: SecretStr | None = None
    mqtt_ca_location: str | None = Field(None, description="CA certificate file for mqtts://")

    @field_validator("api_endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        example = "e.g. https://api.u1.archetypeai.app/v0.5"
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must be an http:// or https:// URL, {example}")
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises for a port that is not a number from 0 to 65535
        except ValueError as exc:
            raise ValueError(f"is not a valid URL ({exc}), {example}") from None
        if not parts.hostname:
            raise ValueError(f"has no host, {example}")
        if any(ch.isspace() or ord(ch) < 32 for ch in value):
            raise ValueError(f"holds a space or a control character, {example}")
        return value.rstrip("/")


FIELDS = tuple(Settings.model_fields)


@dataclass(frozen=True)
class Sources:
    """What each source says, highest precedence first; the values in effect and where each
    comes from are both read off these, so they cannot disagree."""

    flag: dict[str, Any]
    env: dict[str, str]
    file: dict[str, Any]
    profile: str
    config_path: Path

    @classmethod
    def gather(cls, flags: Mapping[str, Any], profile: str, environ: Mapping[str, str], config_path: Path) -> "Sources":
        table = read_config(config_path).get(profile)
        return cls(
            flag={name: value for name, value in flags.items() if value is not None and name in Settings.model_fields},
            env={name: environ[env_name(name)] for name in FIELDS if env_name(name) in environ},
            file={k: v for k, v in table.items() if k in Settings.model_fields} if isinstance(table, dict) else {},
            profile=profile,
            config_path=config_path,
        )

    def merged(self) -> dict[str, Any]:
        return {**self.file, **self.env, **self.flag}

    def origin(self, name: str, *, with_path: bool = True) -> str:
        """flag --x, env ATAI_X, the file (with its path when asked) or default."""
        if name in self.flag:
            return "flag --" + name.replace("_", "-").replace("api-endpoint", "endpoint")
        if name in self.env:
            return f"env {env_name(name)}"
        if name in self.file:
            return f"{self.config_path} [{self.profile}]" if with_path else f"file [{self.profile}]"
        return "default"


def env_name(setting: str) -> str:
    return ENV_PREFIX + setting.upper()


def load_settings(flags: Mapping[str, Any], profile: str, environ: Mapping[str, str], config_path: Path) -> Settings:
    sources = Sources.gather(flags, profile, environ, config_path)
    try:
        return Settings(**sources.merged())
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(map(str, error["loc"]))
            problems.append(f"{name} ({sources.origin(name)}): {_reason(error)}")
        raise UsageError(f"bad setting: {'; '.join(problems)}", hint="fix the value, or remove it to use the default") from exc


def _reason(error: Mapping[str, Any]) -> str:
    return str(error["msg"]).removeprefix("Value error, ")


def provenance(flags: Mapping[str, Any], profile: str, environ: Mapping[str, str], config_path: Path) -> dict[str, str]:
    """Where each setting's value comes from: flag, env, file or default."""
    sources = Sources.gather(flags, profile, environ, config_path)
    return {name: sources.origin(name, with_path=False) for name in FIELDS}


def validate_value(name: str, text: str) -> Any:
    """A value for `atai config set`, checked against the model (the same rules as at load)
    before anything is written."""
    if name not in Settings.model_fields:
        raise UsageError(f"unknown setting {name!r}", hint=f"one of: {', '.join(FIELDS)}")
    try:
        value = getattr(Settings(**{name: text}), name)  # defaults are not validated: only this one is
    except ValidationError as exc:
        raise UsageError(f"bad value for {name}: {text!r}: {_reason(exc.errors()[0])}") from exc
    return value.get_secret_value() if isinstance(value, SecretStr) else value
