"""Message texts the Lens API uses in place of structured errors (lens-api.md 2.2)."""

from __future__ import annotations

from typing import Any

QUERY_TIMED_OUT = "Response timed out for query"
UNKNOWN_SESSION = "Unknown session id"


def unknown_session(session_id: str) -> str:
    return f"{UNKNOWN_SESSION}: {session_id}"


def is_unknown_session(message: str) -> bool:
    return UNKNOWN_SESSION.lower() in message.lower()


def is_query_timeout(message: str) -> bool:
    return QUERY_TIMED_OUT.lower() in message.lower()


def rejection(body: Any) -> list[str] | None:
    """The reasons a reply says no, or None when it does not.

    Two shapes occur: REST bodies with `is_valid: false` / a non-empty `errors` list (register,
    delete, destroy, uploads), and session-event replies whose `event_data.is_valid` is false.
    """
    if not isinstance(body, dict):
        return None
    data = body.get("event_data")
    if isinstance(data, dict) and data.get("is_valid") is False:
        return [str(m) for m in data.get("error_messages") or []] or ["no reason given"]
    if body.get("is_valid") is False or body.get("errors"):
        messages = body.get("error_messages") or [
            e.get("message", str(e)) if isinstance(e, dict) else str(e) for e in body.get("errors") or []
        ]
        return [str(m) for m in messages] or ["no reason given"]
    return None


def mentions_not_found(reasons: list[str]) -> bool:
    return any("not found" in reason.lower() for reason in reasons)
