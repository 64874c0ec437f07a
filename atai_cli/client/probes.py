"""`atai doctor`'s network probes: do WebSocket upgrades and event streams get through to the API?"""

from __future__ import annotations

from typing import TYPE_CHECKING

from atai_cli.errors import NotFoundError

if TYPE_CHECKING:
    from atai_cli.client.api import LensApi

# A session id that cannot exist: the server's refusal of it still proves the path works.
PROBE_SESSION = "lsn-atai-doctor-probe"
REFUSED_AS_EXPECTED = "answers (an unknown session is refused, as expected)"


def probe_websocket(api: "LensApi") -> str:
    """Open a session WebSocket. A running session's own session_endpoint is used when
    there is one; otherwise the path the API documents for session_endpoint, for an id
    that does not exist (its refusal still proves WebSocket upgrades get through)."""
    endpoint = next((s.get("session_endpoint") for s in api.list_sessions() if s.get("session_endpoint")), None)
    if endpoint is None:
        base = api.endpoint.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        endpoint = f"{base}/lens/sessions/{PROBE_SESSION}"
    sock = api.open_socket(endpoint)
    sock.connect_timeout = 10
    try:
        sock.connect()
    except NotFoundError:
        return REFUSED_AS_EXPECTED
    finally:
        sock.close()
    return f"answers ({endpoint.rsplit('/', 1)[-1]})"


def probe_sse(api: "LensApi") -> str:
    try:
        api.rest.request("GET", f"lens/sessions/consumer/{PROBE_SESSION}", timeout=10)
    except NotFoundError:
        return REFUSED_AS_EXPECTED
    return "answers"
