"""The SSE follower against the emulator, with its fault injection."""

from __future__ import annotations

import pytest

from atai_cli.client.sse_decoder import ServerSentEvent
from atai_cli.client.sse_follower import SseFollower
from atai_cli.emulator.catalog import SSE_LENS_ID
from atai_cli.errors import AuthError, NotFoundError, OperationTimeout, ProtocolError
from conftest import SAMPLE_CSV

CSV_INPUT = {"stream_type": "csv_file_reader", "stream_config": {"file_id": "sample.csv"}}


def follow(emu, session_id, **kwargs):
    kwargs.setdefault("liveness", 2.0)
    kwargs.setdefault("reconnect_delay", 0.01)
    api = emu.api()
    return api.follow_sse(session_id, **kwargs)


def collect(follower):
    return [e for e in follower]


def start(emu, lens=SSE_LENS_ID):
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    return emu.running_session(lens)


def results(events):
    return [e for e in events if e.type == "inference.result"]


def test_follows_until_stream_end(emu):
    session_id = start(emu)
    emu.configure(idle_timeout_s=0.5)
    emu.set_input_later(session_id, CSV_INPUT)
    events = collect(follow(emu, session_id))
    assert events[0].type == "sse.stream.start" and events[-1].type == "sse.stream.end"
    got = results(events)
    assert [e.id for e in got] == ["1", "2", "3", "4", "5", "6"]
    assert [e.data["event_data"]["query_metadata"]["query_metadata"]["read_index"] for e in got] == [0, 10, 20, 30, 40, 50]
    assert all(e.raw and e.ok for e in got)


@pytest.mark.parametrize("partial", [True, False])
def test_dropped_every_two_events_delivers_each_once_in_order(emu, partial):
    session_id = start(emu)
    # The stream's idle end is what ends the follower: long enough that a loaded machine never
    # reaches it before the input starts.
    emu.configure(drop_every=2, drop_partial=partial, idle_timeout_s=2.0)
    emu.set_input_later(session_id, CSV_INPUT)
    follower = follow(emu, session_id)
    events = collect(follower)
    assert [e.id for e in results(events)] == ["1", "2", "3", "4", "5", "6"]
    assert follower.status.reconnects >= 3


def test_silent_connection_counts_as_broken(emu):
    session_id = start(emu)
    # heartbeats every 0.05 s against a 0.6 s liveness window: only real silence trips it
    emu.configure(silence_after=2, silence_connections=1, idle_timeout_s=0.5, heartbeat_s=0.05)
    emu.set_input_later(session_id, CSV_INPUT)
    follower = follow(emu, session_id, liveness=0.6)
    events = collect(follower)
    assert [e.id for e in results(events)] == ["1", "2", "3", "4", "5", "6"]
    assert follower.status.reconnects == 1


def test_heartbeats_keep_a_quiet_stream_alive(emu):
    session_id = start(emu)
    emu.configure(heartbeat_s=0.1, idle_timeout_s=1.0)
    follower = follow(emu, session_id, liveness=1.0)  # ten heartbeats' margin: a busy machine never trips it
    events = collect(follower)
    assert sum(e.type == "sse.stream.heartbeat" for e in events) >= 5
    assert follower.status.reconnects == 0 and events[-1].type == "sse.stream.end"


def test_transient_statuses_are_retried(emu):
    session_id = start(emu)
    emu.configure(fail_count=2, fail_status=503, idle_timeout_s=0.3)
    events = collect(follow(emu, session_id))
    assert events[-1].type == "sse.stream.end"


def test_retry_field_sets_the_reconnect_base(emu):
    session_id = start(emu)
    emu.configure(sse_retry_ms=20, idle_timeout_s=0.3)
    follower = follow(emu, session_id, reconnect_delay=5.0)
    collect(follower)
    assert follower.backoff.base == 0.02


def test_resume_with_since_replays_after_that_id(emu):
    session_id = start(emu)
    emu.configure(idle_timeout_s=0.3)
    emu.set_input_later(session_id, CSV_INPUT)
    collect(follow(emu, session_id))
    replay = collect(follow(emu, session_id, since="4"))
    assert [e.id for e in results(replay)] == ["5", "6"]


def test_destroy_ends_the_stream(emu):
    session_id = start(emu)
    emu.destroy_later(session_id, wait_reader=True)
    events = collect(follow(emu, session_id))
    assert events[-1].type == "sse.stream.end"


def test_non_json_data_is_flagged_not_fatal(emu):
    session_id = start(emu)
    emu.configure(sse_garbage=True, idle_timeout_s=0.3)
    events = collect(follow(emu, session_id))
    bad = [e for e in events if not e.ok]
    assert len(bad) == 1 and bad[0].data == "<html>this is not JSON</html>"
    assert events[-1].type == "sse.stream.end"


def test_unknown_session_and_bad_key_fail_without_reconnecting(emu):
    with pytest.raises(NotFoundError):
        collect(follow(emu, "lsn-missing"))
    api = emu.api()
    follower = SseFollower(api.rest.http, api.consumer_url("lsn-x"), reconnect_delay=0.01)
    follower.http.headers["Authorization"] = "Bearer wrong"
    with pytest.raises(AuthError):
        collect(follower)


def test_wrong_content_type_fails_without_reconnecting(emu):
    emu.upload("plain.txt", b"hello")
    api = emu.api()
    follower = SseFollower(api.rest.http, api.rest.url("files/download/plain.txt"), reconnect_delay=0.01)
    with pytest.raises(ProtocolError, match="not text/event-stream"):
        collect(follower)
    assert follower.status.reconnects == 0


def test_deadline_raises_timeout(emu):
    import time

    session_id = start(emu)
    with pytest.raises(OperationTimeout):
        collect(follow(emu, session_id, deadline=time.monotonic() + 0.3))


def test_sends_resume_headers(emu):
    follower = SseFollower(None, "http://x", since="12")
    assert follower._headers() == {"Accept": "text/event-stream", "Cache-Control": "no-cache", "Last-Event-ID": "12"}
    assert "Last-Event-ID" not in SseFollower(None, "http://x")._headers()


def test_duplicate_ids_after_a_reconnect_are_suppressed():
    follower = SseFollower(None, "http://x")

    def seen(event_id: str) -> bool:
        return follower._to_output(ServerSentEvent("{}", "message", event_id, True)) is None

    assert [seen(i) for i in ("1", "2")] == [False, False]
    follower._replay_guard = set(follower._recent_ids)  # what a reconnect does
    assert [seen(i) for i in ("1", "2", "3")] == [True, True, False]


def test_a_server_that_ignores_last_event_id_prints_nothing_twice(emu):
    session_id = start(emu)
    # the first connection goes silent after 3 events; the next one replays from the start
    emu.configure(silence_after=3, silence_connections=1, ignore_last_event_id=True, idle_timeout_s=0.5, heartbeat_s=0.05)
    emu.set_input_later(session_id, CSV_INPUT)
    follower = follow(emu, session_id, liveness=0.6)
    events = collect(follower)
    assert [e.id for e in results(events)] == ["1", "2", "3", "4", "5", "6"]
    assert follower.status.reconnects == 1


# -- the flush policy: stdout is flushed right before a read that would wait ----------------
class _SocketStream:
    """httpcore's SyncStream as far as the policy sees it: a read and the socket under it."""

    def __init__(self, sock) -> None:
        self._sock = sock

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._sock.recv(max_bytes)

    def get_extra_info(self, info: str):
        return self._sock if info == "socket" else None


class _Response:
    def __init__(self, stream) -> None:
        self.extensions = {"network_stream": stream}


def test_flush_happens_before_a_read_that_would_wait_and_not_while_data_is_buffered():
    import socket

    from atai_cli.client.sse_follower import flush_before_blocking

    ours, server = socket.socketpair()
    stream = _SocketStream(ours)
    flushes = []

    def flush():
        flushes.append(True)
        server.sendall(b"after the flush")  # lets the read that follows return

    restore = flush_before_blocking(_Response(stream), flush)
    try:
        server.sendall(b"already here")
        assert stream.read(100) == b"already here" and flushes == []  # more data buffered: no flush
        assert stream.read(100) == b"after the flush" and flushes == [True]  # would wait: flushed first
    finally:
        restore()
        ours.close()
        server.close()
    assert "read" not in vars(stream)  # the pooled connection reads as before


def test_flush_policy_falls_back_without_a_plain_socket():
    from atai_cli.client.sse_follower import flush_before_blocking

    assert flush_before_blocking(_Response(None), lambda: None) is None
    assert flush_before_blocking(type("R", (), {"extensions": {}})(), lambda: None) is None


def test_flush_policy_engages_on_httpx_streams(emu):
    """httpx/httpcore still expose the connection's stream and socket: without them the policy
    falls back to a flush per HTTP chunk (correct, but a write per event on some servers)."""
    import httpx

    from atai_cli.client.sse_follower import flush_before_blocking

    emu.configure(idle_timeout_s=0)
    session_id = emu.running_session(SSE_LENS_ID)
    with emu.api() as api, httpx.Client(headers={"Authorization": f"Bearer {emu.api_key}"}) as http:
        with http.stream("GET", api.consumer_url(session_id)) as response:
            restore = flush_before_blocking(response, lambda: None)
            assert restore is not None
            stream = response.extensions["network_stream"]
            assert "read" in vars(stream)
            restore()
            assert "read" not in vars(stream)


def test_a_payload_type_that_is_not_a_string_is_no_type(emu):
    from atai_cli.client.sse_decoder import ServerSentEvent
    from atai_cli.client.sse_follower import SseFollower

    follower = SseFollower(None, "http://x")
    event = follower._to_output(ServerSentEvent('{"type": 5, "event_data": 1}'))
    assert event.type is None and not event.envelope and event.kind == "message"
