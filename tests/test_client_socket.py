"""The WebSocket session client against the emulator."""

from __future__ import annotations

import pytest

from atai_cli.client.socket import SessionSocket
from atai_cli.emulator.catalog import CAMERA_LENS_ID, MAILBOX_LENS_ID, SSE_LENS_ID
from atai_cli.errors import ApiError, AuthError, NotFoundError, OperationTimeout


def endpoint(emu, session_id):
    return emu.endpoint.replace("http://", "ws://") + f"/lens/sessions/{session_id}"


def test_status_validate_and_read(emu):
    session_id = emu.running_session(MAILBOX_LENS_ID)
    with SessionSocket(endpoint(emu, session_id), emu.api_key, timeout=5) as sock:
        record = sock.request("session.status")
        assert record["session_id"] == session_id and "RUNNING" in record["session_status"]
        assert sock.request("session.validate")["event_data"] == {"is_valid": True, "error_messages": []}
        assert sock.request("session.read", {"client_id": "c1"}) == {"type": "session.read.response", "event_data": None}


def test_replies_matched_by_type_despite_junk_frames(emu):
    emu.configure(ws_noise=3)
    session_id = emu.running_session(MAILBOX_LENS_ID)
    with SessionSocket(endpoint(emu, session_id), emu.api_key, timeout=5) as sock:
        for _ in range(3):
            assert sock.request("session.validate")["type"] == "session.validate.response"
            assert sock.request("session.heartbeat") == {"type": "session.heartbeat.response", "event_data": None}
            assert sock.request("session.status")["session_id"] == session_id


def test_error_reply_for_unknown_event(emu):
    session_id = emu.running_session(MAILBOX_LENS_ID)
    with SessionSocket(endpoint(emu, session_id), emu.api_key, timeout=5) as sock:
        with pytest.raises(ApiError, match="Unknown event type"):
            sock.request("no.such.event")
        assert sock.request("session.validate")["event_data"]["is_valid"]  # the socket stays usable


def test_destroyed_session_is_not_found(emu):
    session_id = emu.running_session(SSE_LENS_ID)
    with SessionSocket(endpoint(emu, session_id), emu.api_key, timeout=5) as sock:
        sock.request("session.destroy")
        with pytest.raises(NotFoundError, match="Unknown session id"):
            sock.request("session.status")


def test_handshake_errors(emu):
    with pytest.raises(AuthError):
        SessionSocket(endpoint(emu, "lsn-x"), "wrong").connect()
    with pytest.raises(NotFoundError):
        SessionSocket(endpoint(emu, "lsn-missing"), emu.api_key).connect()


def test_request_timeout(emu):
    emu.configure(query_timeout_s=5.0)
    session_id = emu.running_session(SSE_LENS_ID)  # not a query lens: the server sits on it
    with SessionSocket(endpoint(emu, session_id), emu.api_key) as sock:
        with pytest.raises(OperationTimeout):
            sock.request("model.query", {"data": []}, timeout=0.3)


def test_model_query_answer(emu):
    import base64

    session_id = emu.running_session(CAMERA_LENS_ID)
    with SessionSocket(endpoint(emu, session_id), emu.api_key, timeout=5) as sock:
        reply = sock.request("model.query", {"data": [{"type": "base64_img", "base64_img": base64.b64encode(b"img").decode()}], "focus": "cars"})
    assert reply["event_data"]["response"] == [reply["event_data"]["result"]]
    assert "Focus: cars" in reply["event_data"]["result"]


def test_a_close_before_the_request_is_a_plain_drop_and_one_during_it_a_lost_reply(emu):
    from atai_cli.client.socket import ReplyLost, SocketClosed

    emu.configure(ws_drop_every=1)  # the server closes right after each reply
    session_id = emu.running_session(MAILBOX_LENS_ID)
    sock = SessionSocket(endpoint(emu, session_id), emu.api_key, timeout=5)
    sock.request("session.validate")
    emu.wait_for(lambda: emu.session(session_id).num_active_connections == 0)  # its close frame is sent
    with pytest.raises(SocketClosed) as plain:
        sock.request("session.read", {"client_id": "c1"})
    assert not isinstance(plain.value, ReplyLost) and "before session.read" in str(plain.value)

    emu.configure(ws_drop_every=0, ws_lose_batch_every=1)  # the read takes effect, its reply is lost
    with emu.api() as api:
        api.session_event(session_id, "session.update", {"type": "data.json", "event_data": {"sensor_data": [[1]]}})
    emu.wait_for(lambda: len(emu.session(session_id).mail) >= 1)
    with pytest.raises(ReplyLost):
        SessionSocket(endpoint(emu, session_id), emu.api_key, timeout=5).request("session.read", {"client_id": "c2"})


def test_keepalive_pings_between_requests_are_answered_not_taken_for_a_drop():
    import time

    from atai_cli.client.socket import SessionSocket
    from atai_cli.emulator.server import EmulatorServer

    server = EmulatorServer(ws_ping_interval=0.05).start()  # uvicorn pings every 50 ms
    try:
        from atai_cli.client.api import LensApi

        with LensApi.connect(server.endpoint, server.api_key) as api:
            session_id = api.create_session(MAILBOX_LENS_ID)["session_id"]
            api.wait_running(session_id, 10)
        url = server.endpoint.replace("http://", "ws://") + f"/lens/sessions/{session_id}"
        with SessionSocket(url, server.api_key, timeout=5) as sock:
            for _ in range(5):
                started = time.monotonic()
                assert sock.request("session.read", {"client_id": "pinged"})["type"] == "session.read.response"
                assert time.monotonic() - started < 0.9  # no 1 s stall on a ping read as half a frame
                time.sleep(0.12)  # a ping or two arrive while idle
            assert sock.connected
    finally:
        server.stop()
