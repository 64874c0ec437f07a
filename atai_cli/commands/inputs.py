"""The user's own input: each file-taking command checks that a file is what it expects
(UTF-8 text for YAML, JSON, JSONL and CSV; JPEG or PNG for images) and says so in one line
naming the file, instead of failing later on garbage; the values of --set, --config-json and
durations are parsed here too."""

from __future__ import annotations

import codecs
import json
import os
import sys
from pathlib import Path
from typing import IO, Any

from atai_cli.errors import UsageError

SNIFF = 64 * 1024
IMAGE_MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG"}


def require_file(path: Path | str, what: str = "file") -> Path:
    path = Path(path)
    if not path.exists():
        raise UsageError(f"no such {what}: {path}")
    if not path.is_file():
        raise UsageError(f"{path} is not a file")
    if not os.access(path, os.R_OK):
        raise UsageError(f"cannot read {path}: permission denied", hint="check the file's mode and owner")
    return path


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=False)  # a character cut at the end of the sniff is fine
    except UnicodeDecodeError:
        return True
    return False


def require_text(path: Path | str, expected: str) -> Path:
    """A file that is UTF-8 text, or a usage error naming it and what was expected."""
    path = require_file(path)
    with path.open("rb") as handle:
        head = handle.read(SNIFF)
    if _looks_binary(head):
        raise UsageError(f"{path} is not {expected}: it is binary, not UTF-8 text")
    return path


def read_text(path: Path | str, expected: str) -> str:
    path = require_text(path, expected)
    try:
        return path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not {expected}: not UTF-8 text (byte {exc.start})") from exc


def open_text(source: str, expected: str, stdin: IO | None = None) -> IO[str]:
    """A text stream over a file, or stdin for `-`, checked to be UTF-8 text."""
    if source == "-":
        stream = stdin or sys.stdin
        buffer = getattr(stream, "buffer", None)
        if buffer is None:
            return stream
        import io

        return io.TextIOWrapper(buffer, encoding="utf-8", errors="strict", newline="")
    path = require_text(source, expected)
    return path.open(encoding="utf-8", errors="strict", newline="")


def read_document(source: str, stdin: IO | None = None) -> dict[str, Any]:
    """A YAML or JSON file (or - for stdin) holding one object."""
    import json

    if source == "-":
        text = (stdin or sys.stdin).read()
        name = "stdin"
        if "\x00" in text:
            raise UsageError("stdin is not a YAML or JSON document: it is binary")
    else:
        text = read_text(source, "a YAML or JSON document")
        name = source
    try:
        value = json.loads(text)
    except ValueError:
        import yaml

        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            problem = str(exc).splitlines()[0] if str(exc) else "not valid"
            raise UsageError(f"{name} is neither JSON nor YAML: {problem}") from exc
    if not isinstance(value, dict):
        raise UsageError(f"{name} must hold a JSON/YAML object (a mapping), not {type(value).__name__}")
    return value


def require_image(path: Path | str) -> Path:
    """A JPEG or PNG file (by its first bytes, whatever its name says)."""
    path = require_file(path, "image file")
    with path.open("rb") as handle:
        head = handle.read(8)
    if not any(head.startswith(magic) for magic in IMAGE_MAGIC):
        raise UsageError(f"{path} is not a JPEG or PNG image")
    return path


def require_csv(path: Path | str) -> Path:
    """UTF-8 text whose first line is a CSV header."""
    path = require_text(path, "a CSV file")
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        header = handle.readline()
    if not header.strip():
        raise UsageError(f"{path} is not a CSV file: its first line (the header) is empty")
    return path


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | None, flag: str) -> float | None:
    """`90s`, `30m`, `2h`, `1d` (or plain seconds) -> seconds; a usage error otherwise."""
    import re

    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match:
        raise UsageError(f"{flag} {text!r} is not a duration", hint="use a number and a unit: 90s, 30m, 2h or 1d")
    return float(match[1]) * DURATION_UNITS.get(match[2] or "s", 1)


def _no_constant(name: str) -> Any:
    """NaN, Infinity and -Infinity: Python's json reads them, JSON has no such values."""
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise OverflowError(f"the number {text} is out of range (larger than any JSON number can be here)")
    return value


def strict_json(text: str) -> Any:
    """JSON as the API reads it: no NaN or Infinity, and no number too large for a double
    (ValueError for the first, OverflowError for the second)."""
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)


def parse_value(text: str) -> Any:
    """A --set VALUE: JSON when it is JSON, else the text itself (NaN and Infinity are text)."""
    try:
        return strict_json(text)
    except OverflowError as exc:
        raise UsageError(f"--set value {text!r}: {exc}") from None
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
        value = strict_json(text)
    except (ValueError, OverflowError) as exc:
        raise UsageError(f"{flag} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise UsageError(f"{flag} must be a JSON object")
    return value
