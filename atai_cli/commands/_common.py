"""Options and parsing helpers shared by the command modules."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from atai_cli.commands import _complete
from atai_cli.context import AppState
from atai_cli.errors import ApiError, NotFoundError, UsageError

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout (progress and errors stay on stderr).")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="KEY=VALUE", help="Set one field (repeatable); VALUE is parsed as JSON when it parses."),
]
SessionIdArg = Annotated[str, typer.Argument(metavar="SESSION_ID", help="A session id (lsn-...).", autocompletion=_complete.session_ids)]
LensIdArg = Annotated[str, typer.Argument(metavar="LENS_ID", help="A lens id (lns-...).", autocompletion=_complete.lens_ids)]
ConfigJsonOpt = Annotated[str | None, typer.Option("--config-json", metavar="JSON", help="A JSON object merged into the config.")]


def state(ctx: typer.Context) -> AppState:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, AppState) else AppState()


def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_set(items: list[str] | None, flag: str = "--set") -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{flag} expects KEY=VALUE, got {item!r}")
        values[key.strip()] = parse_value(value)
    return values


def parse_json_object(text: str | None, flag: str) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{flag} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise UsageError(f"{flag} must be a JSON object")
    return value


def load_document(path: str) -> dict[str, Any]:
    """A YAML or JSON file (or - for stdin) holding one object."""
    if path == "-":
        text = sys.stdin.read()
        name = "stdin"
    else:
        file = Path(path)
        if not file.is_file():
            raise UsageError(f"no such file: {path}")
        text = file.read_text("utf-8")
        name = path
    try:
        value = json.loads(text)
    except ValueError:
        import yaml

        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UsageError(f"{name} is neither JSON nor YAML: {exc}") from exc
    if not isinstance(value, dict):
        raise UsageError(f"{name} must hold a JSON/YAML object (a mapping)")
    return value


def require_file(path: Path, what: str = "file") -> Path:
    if not path.is_file():
        raise UsageError(f"no such {what}: {path}")
    return path


def check_valid(reply: dict, what: str) -> dict:
    """Raise for `event_data.is_valid: false`; 'not found' reasons map to exit 4."""
    data = reply.get("event_data")
    if isinstance(data, dict) and data.get("is_valid") is False:
        reasons = "; ".join(map(str, data.get("error_messages") or [])) or "no reason given"
        if "not found" in reasons.lower():
            raise NotFoundError(f"{what} rejected: {reasons}", hint="list files with `atai files list`")
        raise ApiError(f"{what} rejected: {reasons}")
    return reply
