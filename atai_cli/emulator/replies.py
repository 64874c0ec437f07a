"""The emulator's HTTP vocabulary: error bodies in the API's shape, bearer keys, JSON bodies."""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


def errors(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """The documented plural error envelope: {"errors": [{code, message, error_uid}]}."""
    body = {"errors": [{"code": code, "message": message, "error_uid": f"err-{secrets.token_hex(8)}"}], **extra}
    return JSONResponse(body, status_code=status)


class BadRequest(Exception):
    """Raised inside a handler to answer with `response` at once."""

    def __init__(self, response: Response) -> None:
        self.response = response


def bearer(headers) -> str | None:
    value = headers.get("authorization", "")
    return value[7:].strip() if value[:7].lower() == "bearer " else None


async def json_body(request: Request) -> dict:
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")  # the SDK sends JSON with no Content-Type
    except ValueError:
        raise BadRequest(errors(400, "invalid_json", "The request body is not valid JSON"))
    if not isinstance(body, dict):
        raise BadRequest(errors(400, "invalid_json", "The request body must be a JSON object"))
    return body


def shard(items: list, request: Request) -> list:
    """`shard_index` / `max_items_per_shard` paging (-1 = all), as GET .../metadata takes it."""
    try:
        index = int(request.query_params.get("shard_index", -1))
        size = int(request.query_params.get("max_items_per_shard", -1))
    except ValueError:
        return items
    if size > 0:
        start = max(0, index) * size
        return items[start:start + size]
    return items
