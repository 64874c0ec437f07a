"""What the server's answers mean, in one place for REST, the WebSocket and the followers:
records cleaned of secrets, replies that say no, error replies and error statuses as typed errors."""

from __future__ import annotations

from typing import Any

from atai_cli.errors import ApiError, AtaiError, AuthError, NotFoundError, ProtocolError, Rejected
from atai_cli.protocol import status
from atai_cli.protocol.messages import is_unknown_session, mentions_not_found, rejection
from atai_cli.protocol.redact import redact

# Statuses worth another try: the server is busy or a gateway in front of it is.
RETRY_STATUSES = frozenset({429, 502, 503, 504})


def request_json(body: Any, what: str) -> str:
    """A request body as JSON text, or a usage error for NaN or Infinity (from --set,
    --config-json, a YAML `.nan`), which JSON cannot carry: refused before anything is sent."""
    import json

    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:
        from atai_cli.errors import UsageError

        raise UsageError(f"the {what} request holds NaN or Infinity, which JSON cannot carry",
                         hint="give a finite number (or a string, in quotes)") from exc


def clean_record(record: Any) -> Any:
    """Redact secrets and normalise session_status wherever it appears."""
    record = redact(record)
    if isinstance(record, dict) and "session_status" in record:
        record["session_status"] = status.normalize_status(record["session_status"])
    return record


def expect_dict(body: Any, what: str) -> dict:
    if not isinstance(body, dict):
        raise ProtocolError(f"{what}: expected a JSON object from the server, got {type(body).__name__}")
    return body


def items(body: Any, what: str) -> list[dict]:
    """A list response, bare or in a cursor page's `data`."""
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        body = body["data"]
    if not isinstance(body, list):
        raise ProtocolError(f"{what}: expected a list")
    return [clean_record(x) for x in body if isinstance(x, dict)]


def check_reply(body: Any, what: str, *, missing: str | None = None) -> Any:
    """Raise Rejected when a reply says no; 'not found' reasons about `missing` raise exit 4."""
    reasons = rejection(body)
    if reasons is not None:
        if missing and mentions_not_found(reasons):
            raise NotFoundError(f"{what} rejected: {'; '.join(reasons)}", resource=missing)
        raise Rejected(what, reasons)
    return body


def raise_error_reply(reply: dict, what: str, *, session_id: str | None = None) -> None:
    """A `{"type": "error"}` reply (REST events/process or the WebSocket) as a typed error:
    an unknown session is exit 4, anything else the server refusing `what`."""
    if reply.get("type") != "error":
        return
    text = str(reply.get("message") or reply.get("event_data") or "error")
    if is_unknown_session(text):
        raise NotFoundError(f"session {session_id} not found" if session_id else text, resource="session")
    raise Rejected(what, [text])


def status_error(status: int | None, url: str, message: str, *, resource: str | None = None,
                 code: str | None = None) -> AtaiError:
    """An HTTP error status (a REST response or a refused WebSocket handshake) as the typed
    error the CLI turns into an exit code."""
    if status in (401, 403):
        return AuthError(f"{status} from {url}: {message}")
    if status == 404:
        return NotFoundError(f"{message} ({status} from {url})", resource=resource)
    hint = None
    if status is not None and (status >= 500 or status in RETRY_STATUSES):
        hint = "the server is having trouble; try again in a moment"
    return ApiError(f"{status} from {url}: {message}", hint, status=status, code=code)
