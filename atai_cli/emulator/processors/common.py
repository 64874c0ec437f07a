"""Small helpers every processor family shares."""

from __future__ import annotations

import hashlib
import secrets
from typing import Sequence


def query_id() -> str:
    return "qry-" + secrets.token_hex(8)


def hms(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def pick(options: Sequence[str], *seeds: object) -> str:
    """A deterministic choice: the same seeds always pick the same option."""
    digest = hashlib.sha256(repr(seeds).encode()).digest()
    return options[int.from_bytes(digest[:4], "big") % len(options)]
