"""Session status names, normalised from every spelling the API is known to use."""

from __future__ import annotations

from enum import Enum
from typing import Any

REGISTERED = "SESSION_STATUS_REGISTERED"
RUNNING = "SESSION_STATUS_RUNNING"
FAILED = "SESSION_STATUS_FAILED"
DESTROYED = "SESSION_STATUS_DESTROYED"
STALE = "SESSION_STATUS_STALE"

ENUM_PREFIX = "LensSessionStatus."
# The only numeric values seen in the wild (demo polling code accepts them).
_NUMERIC = {"3": RUNNING, "6": FAILED}

ENDED = frozenset({FAILED, DESTROYED, STALE})


class SessionFate(str, Enum):
    """What became of a session the server calls unknown on a resume (LensApi.session_fate)."""

    ALIVE = "alive"  # its record says it is not ended (or it cannot be told now): try again
    DESTROYED = "destroyed"  # its record says it ended: a clean end
    VANISHED = "vanished"  # the server has no record of it (e.g. it restarted): exit 4


def normalize_status(value: Any) -> str:
    """`LensSessionStatus.SESSION_STATUS_RUNNING`, `"3"`, `3` -> `SESSION_STATUS_RUNNING`; unknowns pass through."""
    if value is None:
        return "UNKNOWN"
    text = str(value).strip()
    if text.startswith(ENUM_PREFIX):
        text = text[len(ENUM_PREFIX):]
    return _NUMERIC.get(text, text)


def short_status(value: Any) -> str:
    """`SESSION_STATUS_RUNNING` -> `RUNNING`, for compact human tables."""
    return normalize_status(value).removeprefix("SESSION_STATUS_")
