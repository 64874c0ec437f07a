"""Settings: flags > ATAI_* environment > the profile's table in config.toml > defaults.

pydantic-settings is imported here and nowhere else, and only by commands that need
settings: importing it costs more than a bare interpreter start, which `atai --version` and
`--help` must not pay. Every value is validated at the door (exit 2 naming the setting and
where it came from), so a bad value never surfaces later as a strange network error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from atai_cli.config_file import read_config
from atai_cli.errors import UsageError

DEFAULT_ENDPOINT = "https://api.u1.archetypeai.app/v0.5"
DEFAULT_PROFILE = "default"
ENV_PREFIX = "ATAI_"
SECRET_SETTINGS = frozenset({"api_key", "forward_secret", "kafka_sasl_password", "mqtt_password"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", validate_default=False)

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
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL, e.g. https://api.u1.archetypeai.app/v0.5")
        return value.rstrip("/")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        # load_settings merges flags, the injected environment and the profile itself (in that
        # order of precedence), so the values name their source in errors and `config show`.
        return (init_settings,)


FIELDS = tuple(Settings.model_fields)


def env_values(environ: Mapping[str, str]) -> dict[str, str]:
    return {name: environ[ENV_PREFIX + name.upper()] for name in FIELDS if ENV_PREFIX + name.upper() in environ}


def _sources(flags: dict[str, Any], profile: str, environ: Mapping[str, str], config_path: Path) -> dict[str, dict]:
    """Each source's values, in order of precedence."""
    table = read_config(config_path).get(profile)
    return {
        "flag": {k: v for k, v in flags.items() if v is not None},
        "env": env_values(environ),
        "file": {k: v for k, v in table.items() if k in Settings.model_fields} if isinstance(table, dict) else {},
    }


def load_settings(flags: dict[str, Any], profile: str, environ: Mapping[str, str], config_path: Path) -> Settings:
    sources = _sources(flags, profile, environ, config_path)
    merged = {**sources["file"], **sources["env"], **sources["flag"]}
    try:
        return Settings(**merged)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(map(str, error["loc"]))
            problems.append(f"{name} ({describe_origin(name, sources, profile, config_path)}): {_reason(error)}")
        raise UsageError(f"bad setting: {'; '.join(problems)}", hint="fix the value, or remove it to use the default") from exc


def _reason(error: dict) -> str:
    return str(error["msg"]).removeprefix("Value error, ")


def describe_origin(name: str, sources: dict[str, dict], profile: str, config_path: Path | None = None) -> str:
    """flag, env, file (with its path when given) or default."""
    if name in sources["flag"]:
        return "flag --" + name.replace("_", "-").replace("api-endpoint", "endpoint")
    if name in sources["env"]:
        return f"env {ENV_PREFIX}{name.upper()}"
    if name in sources["file"]:
        return f"{config_path} [{profile}]" if config_path else f"file [{profile}]"
    return "default"


def provenance(flags: dict[str, Any], profile: str, environ: Mapping[str, str], config_path: Path) -> dict[str, str]:
    """Where each setting's value comes from: flag, env, file or default."""
    sources = _sources(flags, profile, environ, config_path)
    return {name: describe_origin(name, sources, profile) for name in FIELDS}


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
