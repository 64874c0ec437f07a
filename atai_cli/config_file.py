"""config.toml: one table per profile, read with tomllib, written with tomlkit so a person's
comments, unknown keys and other profiles survive every `atai config set` and `atai login`.

Every file atai writes here holds secrets, so all of them are written 0600, atomically
(a temporary file in the same directory, then a rename).
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from atai_cli.errors import UsageError


def _tomllib():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib


def write_private(path: Path, text: str, *, create_dirs: bool = True) -> None:
    """Write a file only its owner can read (0600), atomically, whatever the umask."""
    if create_dirs:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_config(path: Path) -> dict[str, Any]:
    """The whole file as plain dicts ({} when it does not exist)."""
    if not path.exists():
        return {}
    if path.is_dir():
        raise UsageError(f"the config file {path} is a directory", hint="move it away: atai writes its settings there")
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text", hint="fix or delete the file") from exc
    except OSError as exc:
        raise UsageError(f"cannot read the config file {path}: {exc.strerror or exc}",
                         hint="check its mode and owner (atai writes it 0600)") from exc
    try:
        data = _tomllib().loads(text)
    except Exception as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}", hint="fix or delete the file") from exc
    if isinstance(data, dict):
        for name, table in data.items():
            if not isinstance(table, dict):
                raise UsageError(f"{path}: {name} = {table!r} is not a profile table",
                                 hint=f"profiles are tables: [{name}] on a line of its own, then key = value lines")
        return data
    return {}


def profile_names(path: Path) -> list[str]:
    return list(read_config(path))  # read_config refuses a top-level value that is not a table


def update_profile(path: Path, profile: str, set_values: dict[str, Any] | None = None,
                   unset: list[str] | None = None) -> Path:
    """Set and remove keys of one profile's table, keeping everything else in the file as is."""
    import tomlkit

    if path.exists():
        read_config(path)  # a clear error for a broken file, before tomlkit's own
        document = tomlkit.parse(path.read_text("utf-8"))
    else:
        document = tomlkit.document()
        document.add(tomlkit.comment("atai configuration: one table per profile. Written by atai (mode 0600)."))
        document.add(tomlkit.nl())
    if profile not in document:
        document[profile] = tomlkit.table()
    table = document[profile]
    for key, value in (set_values or {}).items():
        if value is not None:
            table[key] = value
    for key in unset or []:
        if key in table:
            del table[key]
    write_private(path, tomlkit.dumps(document))
    return path


def stored_client_id(config_dir: Path, profile: str) -> str:
    """A stable session.read client_id per machine and profile, so repeated reads never replay."""
    path = config_dir / "client_ids.json"
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


def ensure_forward_secret(path: Path, profile: str) -> str:
    """The profile's forward_secret, created (32 random bytes, hex) the first time it is needed."""
    table = read_config(path).get(profile)
    existing = table.get("forward_secret") if isinstance(table, dict) else None
    if isinstance(existing, str) and existing:
        return existing
    secret = secrets.token_hex(32)
    update_profile(path, profile, {"forward_secret": secret})
    return secret
