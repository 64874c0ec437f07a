"""The session.read poller's interval logic, with a scripted socket (a narrow unit case)."""

from __future__ import annotations

import pytest

from atai_cli.client import followers
from atai_cli.client.mailbox_follower import MailboxFollower
from atai_cli.client.socket import ReplyLost, SocketClosed
from atai_cli.errors import NotFoundError


class ScriptedSocket:
    def __init__(self, script: list) -> None:
        self.script = script
        self.requests: list = []

    def connect(self) -> None:
        pass

    def close(self) -> None:
        pass

    def request(self, kind, data=None, timeout=None):
        self.requests.append((kind, data))
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        if step is None:
            return {"type": "session.read.response", "event_data": None}
        return {"type": "session.read.response", "event_data": {"messages": [{"type": "t", "data": n} for n in step]}}


@pytest.fixture
def sleeps(monkeypatch):
    recorded: list[float] = []
    monkeypatch.setattr(followers.Follower, "_sleep", lambda self, seconds: recorded.append(seconds))
    return recorded


def test_interval_backs_off_when_idle_and_snaps_back(sleeps):
    sock = ScriptedSocket([None, None, None, [1, 2], [3], None, None, NotFoundError("Unknown session id: x")])
    follower = MailboxFollower(lambda: sock, "cid", min_interval=0.05, max_interval=0.15)
    events = [e.data["data"] for e in follower]
    assert events == [1, 2, 3]
    assert sleeps == [0.05, 0.1, 0.15, 0.05, 0.1]  # no sleep while messages flow
    assert {data["client_id"] for _, data in sock.requests} == {"cid"}
    assert follower.end_reason == "session was destroyed"


def test_reconnects_with_the_same_client_id(sleeps):
    sockets = [ScriptedSocket([[1], SocketClosed("dropped")]), ScriptedSocket([[2], NotFoundError("Unknown session id: x")])]
    opened = []

    def open_socket():
        opened.append(sockets[len(opened)])
        return opened[-1]

    follower = MailboxFollower(open_socket, "same-id", reconnect_delay=0.01)
    assert [e.data["data"] for e in follower] == [1, 2]
    assert len(opened) == 2 and follower.status.reconnects == 1
    assert all(data["client_id"] == "same-id" for s in opened for _, data in s.requests)


def test_a_reply_lost_in_flight_replays_under_a_new_id_passing_over_what_was_seen(sleeps):
    # The server may have handed [3, 4] to "old-id" before the socket died: that id's cursor
    # is past them, so a new reader plays back [1, 2, 3, 4, 5] and 1-2 are passed over.
    sockets = [ScriptedSocket([[1, 2], ReplyLost("dropped while waiting")]),
               ScriptedSocket([[1, 2, 3, 4, 5], NotFoundError("Unknown session id: x")])]
    opened = []

    def open_socket():
        opened.append(sockets[len(opened)])
        return opened[-1]

    follower = MailboxFollower(open_socket, "old-id", reconnect_delay=0.01)
    events = list(follower)
    assert [e.data["data"] for e in events] == [1, 2, 3, 4, 5]
    assert [e.id for e in events] == ["1", "2", "3", "4", "5"]
    new_id = opened[1].requests[0][1]["client_id"]
    assert new_id != "old-id" and new_id.startswith("atai-")


def test_a_named_reader_is_located_in_the_mailbox_before_its_messages_get_ids(sleeps):
    # "named" had read two messages before: its first batch is [3, 4]; a probe plays the
    # mailbox [1..5] back from its start and meets 3 after two messages.
    sock = ScriptedSocket([[3, 4], [1, 2, 3, 4, 5], NotFoundError("Unknown session id: x")])
    follower = MailboxFollower(lambda: sock, "named", offset=None, reconnect_delay=0.01)
    events = list(follower)
    assert [(e.id, e.data["data"]) for e in events] == [("3", 3), ("4", 4)]
    probe = sock.requests[1][1]["client_id"]
    assert sock.requests[0][1]["client_id"] == "named" and probe.startswith("atai-")


def test_a_stop_while_locating_a_named_reader_numbers_and_hands_on_nothing(sleeps):
    class StopsWhileProbing(ScriptedSocket):
        def shutdown(self) -> None:
            pass

        def request(self, kind, data=None, timeout=None):
            if len(self.requests) == 1:  # the first probe read: the user pressed Ctrl-C
                follower.stop()
            return super().request(kind, data, timeout)

    batches = []
    sock = StopsWhileProbing([[3, 4], [1, 2], [3, 4, 5]])  # stopped before the probe reaches 3
    follower = MailboxFollower(lambda: sock, "named", offset=None, reconnect_delay=0.01,
                               on_batch=lambda total, client_id=None: batches.append(total))
    # The batch was reported as read before it was placed, and nothing was numbered.
    assert list(follower) == [] and batches == [None] and follower.read_count is None
