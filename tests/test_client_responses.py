"""client/responses.py: one meaning for an error reply and for an HTTP error status, wherever it
arrives (REST, the WebSocket, its handshake)."""

from __future__ import annotations

import pytest

from atai_cli.client.responses import raise_error_reply, status_error
from atai_cli.client.socket import SessionSocket
from atai_cli.emulator.catalog import SSE_LENS_ID
from atai_cli.errors import ApiError, AuthError, NotFoundError, Rejected


def test_an_error_reply_is_exit_4_for_an_unknown_session_and_a_rejection_otherwise():
    raise_error_reply({"type": "session.status.response"}, "session.status")  # not an error: nothing
    with pytest.raises(NotFoundError, match="Unknown session id: lsn-x") as unknown:
        raise_error_reply({"type": "error", "message": "Unknown session id: lsn-x"}, "session.read")
    assert unknown.value.resource == "session"
    with pytest.raises(NotFoundError, match="session lsn-x not found"):
        raise_error_reply({"type": "error", "message": "Unknown session id: lsn-x"}, "session.read", session_id="lsn-x")
    with pytest.raises(Rejected, match="session.modify rejected: bad params"):
        raise_error_reply({"type": "error", "message": "bad params"}, "session.modify")


def test_one_status_table_for_rest_and_websocket_handshakes():
    assert isinstance(status_error(401, "u", "m"), AuthError)
    missing = status_error(404, "u", "m", resource="file")
    assert isinstance(missing, NotFoundError) and missing.resource == "file" and missing.message == "m (404 from u)"
    busy = status_error(503, "u", "m")
    assert type(busy) is ApiError and busy.status == 503 and busy.hint
    assert status_error(400, "u", "m").hint is None


def test_the_socket_maps_its_handshake_and_error_replies_through_them(emu):
    base = emu.endpoint.replace("http://", "ws://")
    with pytest.raises(NotFoundError, match=r"session not found \(404 from ws://"):
        SessionSocket(f"{base}/lens/sessions/lsn-missing", emu.api_key).connect()
    with pytest.raises(AuthError, match="handshake was refused"):
        SessionSocket(f"{base}/lens/sessions/lsn-missing", "wrong").connect()
    session_id = emu.running_session(SSE_LENS_ID)
    with SessionSocket(f"{base}/lens/sessions/{session_id}", emu.api_key, timeout=5) as sock:
        with pytest.raises(Rejected, match="no.such.event rejected"):
            sock.request("no.such.event")
