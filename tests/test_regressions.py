"""Bugs found in review, each reproduced first (issue 9 item 6 and friends)."""

from __future__ import annotations

from atai_cli.emulator.catalog import MAILBOX_LENS_ID, SSE_LENS_ID


def test_a_session_read_that_never_answers_is_a_broken_connection_not_a_type_error(cli, emu):
    session_id = emu.running_session(MAILBOX_LENS_ID)
    emu.configure(ws_silent_types="session.read")
    # no --timeout: each request's own timeout applies; a reply that never comes is a half-open
    # connection, retried like a dropped one until --give-up-after
    result = cli("tail", session_id, "--give-up-after", "1", env={"ATAI_TIMEOUT": "0.3"})
    assert result.exit_code == 1, result.stderr
    assert "gave up reconnecting after 1s: no reply to session.read" in result.stderr
    assert "reconnecting in" in result.stderr
    assert "TypeError" not in result.stderr and "unexpected failure" not in result.stderr


def test_a_redirect_loop_on_the_consumer_stops_at_the_first_loop(cli, emu):
    session_id = emu.running_session(SSE_LENS_ID)
    emu.configure(fail_path="consumer", fail_status=307, fail_count=50, redirect_location="")
    result = cli("tail", session_id, "--channel", "sse")
    assert result.exit_code == 1 and "redirect loop" in result.stderr, result.stderr
    assert emu.configure()["fail_count"] == 49  # one request, not ~21


def test_read_without_a_session_endpoint_is_a_clear_protocol_error(cli, emu, monkeypatch):
    from atai_cli.client import api as api_module

    session_id = emu.running_session(MAILBOX_LENS_ID)
    original = api_module.LensApi.session_status
    monkeypatch.setattr(api_module.LensApi, "session_status",
                        lambda self, sid: {k: v for k, v in original(self, sid).items() if k != "session_endpoint"})
    result = cli("read", session_id)
    assert result.exit_code == 1 and "has no session_endpoint" in result.stderr
    assert "KeyError" not in result.stderr
