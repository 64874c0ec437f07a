"""Message texts the Lens API uses in place of structured errors (lens-api.md 2.2)."""

from __future__ import annotations

QUERY_TIMED_OUT = "Response timed out for query"
UNKNOWN_SESSION = "Unknown session id"


def unknown_session(session_id: str) -> str:
    return f"{UNKNOWN_SESSION}: {session_id}"


def is_unknown_session(message: str) -> bool:
    return UNKNOWN_SESSION.lower() in message.lower()


def is_query_timeout(message: str) -> bool:
    return QUERY_TIMED_OUT.lower() in message.lower()
