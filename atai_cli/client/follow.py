"""Following a session's output: pick the channel, then hand back the right follower."""

from __future__ import annotations

from typing import Any

from atai_cli.client.api import LensApi
from atai_cli.client.stream import StatusCallback
from atai_cli.errors import ProtocolError, UsageError
from atai_cli.protocol.channels import output_channel

CHANNELS = ("auto", "sse", "read")


def choose_channel(record: dict, requested: str = "auto") -> tuple[str, str]:
    """("sse" | "read", why), from the lens config session.status reports (which includes
    writers attached with output_stream.set)."""
    if requested not in CHANNELS:
        raise UsageError(f"--channel must be one of {', '.join(CHANNELS)}, got {requested!r}")
    if requested != "auto":
        return requested, f"--channel {requested}"
    channel, why = output_channel(record.get("lens_config"))
    return channel, f"lens config: {why}"


def open_follower(
    api: LensApi,
    record: dict,
    channel: str,
    *,
    since: str | None = None,
    client_id: str = "",
    liveness: float = 15.0,
    deadline: float | None = None,
    on_status: StatusCallback | None = None,
    on_open: Any = None,
    before_wait: Any = None,
):
    session_id = record["session_id"]
    if channel == "sse":
        return api.follow_sse(session_id, since=since, liveness=liveness, deadline=deadline, on_status=on_status, on_open=on_open, before_wait=before_wait)
    endpoint = record.get("session_endpoint")
    if not endpoint:
        raise ProtocolError(f"session {session_id}: the record has no session_endpoint for session.read")
    return api.follow_mailbox(endpoint, client_id, deadline=deadline, on_status=on_status, before_wait=before_wait)
