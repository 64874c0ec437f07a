"""Configuration: flags > ATAI_* environment > the profile's table in config.toml > defaults.

pydantic-settings is imported here and nowhere else, and only by commands that talk to the
API, because importing it costs ~130 ms that `atai --version` and `--help` must not pay.
"""

from __future__ import annotations

import json
import os
import secrets
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from atai_cli.errors import UsageError

DEFAULT_ENDPOINT = "https://api.u1.archetypeai.app/v0.5"
DEFAULT_PROFILE = "default"
_active_profile: ContextVar[str] = ContextVar("atai_profile", default=DEFAULT_PROFILE)


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "atai"


def config_path() -> Path:
    return config_dir() / "config.toml"


def _toml():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib


def read_config(path: Path | None = None) -> dict[str, Any]:
    path = path or config_path()
    if not path.exists():
        return {}
    try:
        data = _toml().loads(path.read_text("utf-8"))
    except Exception as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}", hint="fix or delete the file") from exc
    return data if isinstance(data, dict) else {}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (0600), whatever the umask or the old mode."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def write_config(data: dict[str, dict[str, Any]], path: Path | None = None) -> Path:
    path = path or config_path()
    lines = ["# atai configuration: one table per profile. Written by atai (mode 0600).", ""]
    for profile, table in data.items():
        if not isinstance(table, dict):
            continue
        lines.append(f"[{_toml_key(profile)}]")
        for key, value in table.items():
            if value is not None:
                lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
        lines.append("")
    write_private(path, "\n".join(lines))
    return path


def update_profile(profile: str, set_values: dict[str, Any] | None = None, unset: list[str] | None = None) -> Path:
    data = read_config()
    table = dict(data.get(profile) or {})
    table.update(set_values or {})
    for key in unset or []:
        table.pop(key, None)
    data[profile] = table
    return write_config(data)


class _ProfileSource(PydanticBaseSettingsSource):
    """The active profile's table of config.toml."""

    def get_field_value(self, field, field_name):  # pragma: no cover - __call__ does the work
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        table = read_config().get(_active_profile.get()) or {}
        return {k: v for k, v in table.items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATAI_", extra="ignore")

    api_key: SecretStr | None = None
    api_endpoint: str = DEFAULT_ENDPOINT
    timeout: float = 30.0
    max_retries: int = 4
    retry_delay: float = 0.5  # first REST retry delay; doubles up to 30 s
    reconnect_delay: float = 1.0  # first SSE/WebSocket reconnect delay; doubles up to 30 s
    client_id: str | None = None  # session.read cursor id; default: one kept per profile

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        return (init_settings, env_settings, _ProfileSource(settings_cls))


FIELDS = ("api_key", "api_endpoint", "timeout", "max_retries", "retry_delay", "reconnect_delay", "client_id")


def resolve_profile(flag: str | None) -> str:
    return flag or os.environ.get("ATAI_PROFILE") or DEFAULT_PROFILE


def load_settings(flags: dict[str, Any], profile: str) -> Settings:
    token = _active_profile.set(profile)
    try:
        return Settings(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise UsageError(f"bad setting: {problems}", hint="check ATAI_* variables and config.toml") from exc
    finally:
        _active_profile.reset(token)


def provenance(flags: dict[str, Any], profile: str) -> dict[str, str]:
    """Where each setting's value comes from: flag, env, file or default."""
    table = read_config().get(profile) or {}
    origin = {}
    for name in FIELDS:
        if flags.get(name) is not None:
            origin[name] = "flag"
        elif os.environ.get(f"ATAI_{name.upper()}") is not None:
            origin[name] = f"env ATAI_{name.upper()}"
        elif name in table:
            origin[name] = f"file [{profile}]"
        else:
            origin[name] = "default"
    return origin


def stored_client_id(profile: str) -> str:
    """A stable session.read client_id per machine and profile, so repeated reads never replay."""
    path = config_dir() / "client_ids.json"
    try:
        ids = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        ids = {}
    if not isinstance(ids, dict):
        ids = {}
    if not ids.get(profile):
        ids[profile] = "atai-" + secrets.token_hex(6)
        try:
            write_private(path, json.dumps(ids, indent=2))
        except OSError:
            pass  # a read-only config dir still works, with a per-run id
    return str(ids[profile])
