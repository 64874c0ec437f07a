"""atai's first promise (issue 16, contract v3 "Every viewer sees every event"): every viewer
sees every event, every event has an id on both channels, and restarts lose nothing.

Events carry a sequence number (the synthetic input's `seq`), so every scenario counts: none
lost, none repeated, never an older one. Signals go to real subprocesses; every wait is on a
condition (a line read, a file written), never on a sleep."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from atai_cli.emulator.catalog import MAILBOX_LENS_ID, SSE_LENS_ID
from atai_cli.output.watch import changes
from atai_cli.pipeline.filters import parse_path
from conftest import atai_process, event, run_cli
from receiver import Receiver
from test_replay import on, replaying

N = 120  # events per scenario


def synthetic(count: int, rate_hz: float = 400.0) -> dict:
    return {"stream_type": "synthetic_reader", "stream_config": {"count": count, "rate_hz": rate_hz, "payload_bytes": 8}}


def start_input(emu, sid: str, count: int = N, rate_hz: float = 400.0) -> None:
    with emu.api() as api:
        api.session_event(sid, "input_stream.set", synthetic(count, rate_hz))


def fill_mailbox(emu, sid: str, count: int = N) -> None:
    start_input(emu, sid, count)
    emu.wait_for(lambda: len(emu.session(sid).mail) >= count, timeout=60)


def seq(line: dict) -> int:
    """The sequence number of a --meta line or a plain data line, on either channel."""
    if "payload" in line:
        payload = line["payload"]
    elif "event_data" in line:
        payload = line["event_data"]
    else:
        payload = line["data"]
    return int(payload["channel_means"][0]) if "channel_means" in payload else payload["seq"]


def meta_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def read_lines(process: subprocess.Popen, count: int) -> list[dict]:
    lines = []
    for _ in range(count):
        raw = process.stdout.readline()
        assert raw, process.stderr.read()
        lines.append(json.loads(raw))
    return lines


def finish(process: subprocess.Popen) -> tuple[str, str]:
    """The rest of a process's output once it ends. Not communicate(): after readline() the
    text stream has buffered bytes that communicate(), reading the raw pipes, would skip."""
    out, err = process.stdout.read(), process.stderr.read()
    process.wait(timeout=30)
    return out, err


def saved(path: Path, sid: str) -> dict:
    return json.loads(path.read_text())[sid]


def increasing(seqs: list[int]) -> bool:
    return all(b == a + 1 for a, b in zip(seqs, seqs[1:]))


# -- the emulator's mailbox keeps the docs' semantics ---------------------------------------
def test_the_mailbox_keeps_a_cursor_per_client_id_and_a_new_id_plays_from_the_start(emu, http):
    sid = emu.running_session(MAILBOX_LENS_ID)
    fill_mailbox(emu, sid, 5)

    def read(client_id):
        data = event(http, sid, "session.read", {"client_id": client_id})["event_data"]
        return [m["data"]["seq"] for m in data["messages"]] if data else []

    assert read("a") == [0, 1, 2, 3, 4]
    assert read("a") == []  # its cursor is past them
    assert read("b") == [0, 1, 2, 3, 4]  # a new id: from the start, "to enable parallel reading"
    start_input(emu, sid, 3)
    emu.wait_for(lambda: len(emu.session(sid).mail) >= 8)
    assert read("a") == [0, 1, 2] and read("b") == [0, 1, 2]  # the new input's seq starts again at 0


# -- two viewers ---------------------------------------------------------------------------
@pytest.mark.parametrize("channel", ["read", "sse"])
def test_two_concurrent_viewers_of_one_session_each_see_every_event(emu, channel):
    sid = emu.running_session(MAILBOX_LENS_ID if channel == "read" else SSE_LENS_ID)
    viewers = [atai_process(emu, "tail", sid, "--meta", "--max-events", str(N)) for _ in range(2)]
    if channel == "sse":
        emu.wait_for(lambda: len(emu.session(sid).readers) >= 2)  # both connected before any event
    start_input(emu, sid)
    ids = []
    for viewer in viewers:
        out, err = viewer.communicate(timeout=120)
        assert viewer.returncode == 0, err
        lines = meta_lines(out)
        assert [seq(line) for line in lines] == list(range(N))
        ids.append([line["id"] for line in lines])
    assert ids[0] == ids[1]  # the same id for the same event, whoever reads it
    if channel == "read":
        assert ids[0] == [str(n) for n in range(1, N + 1)]  # positions


@pytest.mark.parametrize("channel", ["read", "sse"])
def test_a_real_head_1_ends_the_tail_even_when_nothing_more_is_printed(emu, channel):
    # Every line is in the pipe before head exits, and no event follows: atai must notice its
    # reader went away without waiting for a write that never comes.
    import sys

    from conftest import subprocess_env

    emu.configure(idle_timeout_s=0)
    sid = emu.running_session(MAILBOX_LENS_ID if channel == "read" else SSE_LENS_ID)
    start_input(emu, sid, 3)
    emu.wait_for(lambda: emu.session(sid).num_outputs >= 3, timeout=60)
    shell = f"{sys.executable} -m atai_cli tail {sid} | head -1"
    done = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, timeout=60, env=subprocess_env(emu))
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_a_real_head_1_takes_nothing_from_the_next_tail(emu):
    import sys

    from conftest import subprocess_env

    sid = emu.running_session(MAILBOX_LENS_ID)
    fill_mailbox(emu, sid, 40)
    piped = subprocess.run(["sh", "-c", f"{sys.executable} -m atai_cli tail {sid} | head -1"], capture_output=True,
                           text=True, timeout=60, env=subprocess_env(emu))
    assert piped.returncode == 0 and len(piped.stdout.splitlines()) == 1
    assert "Traceback" not in piped.stderr and "error" not in piped.stderr.lower(), piped.stderr
    again = run_cli("tail", sid, "--max-events", "40")
    assert again.exit_code == 0 and [seq(json.loads(line)) for line in again.lines] == list(range(40))


def test_a_tail_that_read_before_takes_nothing_from_the_next(emu):
    sid = emu.running_session(MAILBOX_LENS_ID)
    fill_mailbox(emu, sid, 40)
    assert run_cli("tail", sid, "--max-events", "1").exit_code == 0  # like `| head -1`
    again = run_cli("tail", sid, "--max-events", "40")
    assert again.exit_code == 0 and [seq(json.loads(line)) for line in again.lines] == list(range(40))


# -- SIGKILL -------------------------------------------------------------------------------
def saved_position(path: Path, sid: str) -> int:
    try:
        return int(saved(path, sid)["last_event_id"] or 0)
    except (OSError, ValueError, KeyError):
        return 0


def kill_and_resume(emu, sid: str, path: Path, expected_first: int | None, *, rounds: int = 3,
                    take: int = 15) -> list[int]:
    """SIGKILL a cursor-file tail `rounds` times, each after `take` lines and a save of this
    run, checking that each restart begins right after the saved cursor (0 lost, never an
    older event) and that the file only ever held what was printed. Every seq printed."""
    printed: list[int] = []
    for round_ in range(rounds):
        emu.push(sid, range(next_value(emu, sid), next_value(emu, sid) + 2 * take))
        tail = atai_process(emu, "tail", sid, "--meta", "--cursor-file", str(path))
        lines = read_lines(tail, take)
        emu.wait_for(lambda: saved_position(path, sid) >= int(lines[0]["id"]), timeout=30)
        tail.send_signal(signal.SIGKILL)
        rest, _ = finish(tail)
        lines += meta_lines(rest)
        ids = [int(line["id"]) for line in lines]
        seqs = [seq(line) for line in lines]
        if expected_first is not None:
            assert ids[0] == expected_first, (ids[0], expected_first)
        assert increasing(ids) and increasing(seqs) and all(i == s + 1 for i, s in zip(ids, seqs))
        position = saved_position(path, sid)
        assert ids[0] <= position <= ids[-1]  # repeats bounded: only what was printed after the save
        expected_first = position + 1
        printed += seqs
    return printed


def next_value(emu, sid: str) -> int:
    return emu.session(sid).num_outputs


@pytest.mark.parametrize("channel", ["read", "sse"])
def test_a_cursor_file_tail_killed_three_times_loses_nothing(emu, tmp_path, channel):
    emu.configure(idle_timeout_s=0, **({"drop_every": 7} if channel == "sse" else {}))
    sid = emu.running_session(MAILBOX_LENS_ID if channel == "read" else SSE_LENS_ID)
    path = tmp_path / "cursor.json"
    plain = atai_process(emu, "tail", sid, "--meta", "--max-events", "10")  # a plain tail reads first
    if channel == "sse":
        emu.wait_for_reader(sid)
    emu.push(sid, range(10))
    out, err = plain.communicate(timeout=60)
    assert plain.returncode == 0, err
    before = [seq(line) for line in meta_lines(out)]
    assert before == list(range(10))
    if channel == "sse":  # the plain tail's hint, kept in the file: SSE readers start live otherwise
        path.write_text(json.dumps({sid: {"channel": "sse", "last_event_id": "10", "client_id": None}}))
    printed = kill_and_resume(emu, sid, path, 1 if channel == "read" else 11)
    emu.push(sid, range(next_value(emu, sid), next_value(emu, sid) + 10))  # and the session goes on
    total = next_value(emu, sid)
    emu.wait_for(lambda: emu.session(sid).num_outputs >= total, timeout=60)
    position = saved_position(path, sid)
    final = atai_process(emu, "tail", sid, "--meta", "--cursor-file", str(path), "--max-events", str(total - position))
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    rest = meta_lines(out)
    assert int(rest[0]["id"]) == position + 1 and [seq(line) for line in rest] == list(range(position, total))
    assert set(before) | set(printed) | {seq(line) for line in rest} == set(range(total))  # 0 lost


# -- Ctrl-C --------------------------------------------------------------------------------
@pytest.mark.parametrize("channel", ["read", "sse"])
@pytest.mark.parametrize("how", ["hint", "cursor"])
def test_ctrl_c_and_restart_repeats_nothing(emu, tmp_path, channel, how):
    emu.configure(idle_timeout_s=0)
    sid = emu.running_session(MAILBOX_LENS_ID if channel == "read" else SSE_LENS_ID)
    path = tmp_path / "cursor.json"
    extra = ["--cursor-file", str(path)] if how == "cursor" else []
    first = atai_process(emu, "tail", sid, "--meta", *extra)
    if channel == "sse":
        emu.wait_for_reader(sid)
    start_input(emu, sid, N, rate_hz=200)
    lines = read_lines(first, 20)
    first.send_signal(signal.SIGINT)
    rest, err = finish(first)
    assert first.returncode == 130, err
    lines += meta_lines(rest)
    if how == "hint":
        assert f"--since {lines[-1]['id']}" in err, err  # the id of the last event printed
        again_args = ["--since", lines[-1]["id"]]
    else:
        assert f"--cursor-file {path}" in err
        again_args = extra
    emu.wait_for(lambda: emu.session(sid).num_outputs >= N, timeout=60)
    left = N - 1 - seq(lines[-1])
    again = run_cli("tail", sid, "--meta", *again_args, "--max-events", str(left))
    assert again.exit_code == 0, again.stderr
    seqs = [seq(line) for line in lines] + [seq(json.loads(line)) for line in again.lines]
    assert seqs == list(range(seqs[0], N))  # 0 repeated, 0 lost


@pytest.mark.parametrize("stop", [["--timeout", "0.5"], ["--max-events", "7"], ["--idle-exit", "0.3"]])
def test_every_clean_stop_resumes_exactly_on_sse(emu, tmp_path, stop):
    emu.configure(idle_timeout_s=0)
    sid = emu.running_session(SSE_LENS_ID)
    start_input(emu, sid, 60)
    emu.wait_for(lambda: emu.session(sid).num_outputs >= 60, timeout=60)
    path = tmp_path / "c.json"
    first = run_cli("tail", sid, "--meta", "--cursor-file", str(path), *stop)
    assert first.exit_code in (0, 5), first.stderr
    start_input(emu, sid, 20)
    emu.wait_for(lambda: emu.session(sid).num_outputs >= 80, timeout=60)
    again = run_cli("tail", sid, "--meta", "--cursor-file", str(path), "--max-events", str(80 - len(first.lines)))
    assert again.exit_code == 0, again.stderr
    lines = meta_lines(first.stdout) + meta_lines(again.stdout)
    assert [seq(line) for line in lines] == list(range(60)) + list(range(20))  # 0 lost, 0 repeated
    ids = [int(line["id"]) for line in lines]
    assert ids == sorted(set(ids))


@pytest.mark.parametrize("stop", [["--timeout", "0.5"], ["--max-events", "7"], ["--idle-exit", "0.3"]])
def test_every_clean_stop_resumes_exactly_on_the_mailbox(emu, tmp_path, stop):
    sid = emu.running_session(MAILBOX_LENS_ID)
    fill_mailbox(emu, sid, 60)
    path = tmp_path / "c.json"
    first = run_cli("tail", sid, "--meta", "--cursor-file", str(path), *stop)
    assert first.exit_code in (0, 5), first.stderr
    start_input(emu, sid, 20)  # more after the stop, as a session goes on
    emu.wait_for(lambda: len(emu.session(sid).mail) >= 80, timeout=60)
    again = run_cli("tail", sid, "--meta", "--cursor-file", str(path), "--max-events", str(80 - len(first.lines)))
    assert again.exit_code == 0, again.stderr
    ids = [json.loads(line)["id"] for line in first.lines + again.lines]
    assert ids == [str(n) for n in range(1, 81)]


def test_a_sigkill_right_after_a_clean_resume_loses_nothing_and_keeps_the_ids(emu, tmp_path):
    # A clean stop with nothing read ahead lets the next run reuse its client_id, whose server
    # cursor moves with every read: the file must stop saying "clean" before that first read,
    # or a SIGKILL before the next save resumes past messages nobody printed (and numbers every
    # later one wrongly).
    sid = emu.running_session(MAILBOX_LENS_ID)
    fill_mailbox(emu, sid, 10)
    path = tmp_path / "c.json"
    first = run_cli("tail", sid, "--meta", "--cursor-file", str(path), "--idle-exit", "0.3")
    assert first.exit_code == 0, first.stderr
    entry = saved(path, sid)
    assert entry["clean"] is True and entry["server_offset"] == 10 and entry["last_event_id"] == "10"  # reusable
    start_input(emu, sid, 50)
    emu.wait_for(lambda: len(emu.session(sid).mail) >= 60, timeout=60)
    second = atai_process(emu, "tail", sid, "--meta", "--cursor-file", str(path))
    lines = read_lines(second, 1)  # it has read a batch with the reused id and printed from it
    assert saved(path, sid)["client_id"] == entry["client_id"] and saved(path, sid)["clean"] is False
    second.send_signal(signal.SIGKILL)
    rest, _ = finish(second)
    lines += meta_lines(rest)
    position = saved_position(path, sid)
    third = run_cli("tail", sid, "--meta", "--cursor-file", str(path), "--max-events", str(60 - position))
    assert third.exit_code == 0, third.stderr
    resumed = meta_lines(third.stdout)
    assert int(resumed[0]["id"]) == position + 1
    every = meta_lines(first.stdout) + lines + resumed
    assert [line["id"] for line in resumed] == [str(n) for n in range(position + 1, 61)]
    assert {int(line["id"]) for line in every} == set(range(1, 61))  # 0 lost
    # The id is the mailbox position: the first input's seq 0-9 at 1-10, the second's 0-49 at 11-60.
    assert all(int(line["id"]) == seq(line) + (1 if int(line["id"]) <= 10 else 11) for line in every)


def test_a_clean_cursor_that_cannot_be_unmarked_is_not_reused(tmp_path, monkeypatch):
    from atai_cli import config_file
    from atai_cli.pipeline.cursors import CursorStore

    path = tmp_path / "c.json"
    path.write_text(json.dumps({"lsn-a": {"channel": "read", "last_event_id": "5", "client_id": "atai-old",
                                          "server_offset": 5, "clean": True}}))

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(config_file, "write_private", full_disk)
    warnings: list[str] = []
    store = CursorStore(path, warn=warnings.append)
    _, client_id, offset, skip = store.resume_point("lsn-a", "read")
    assert client_id != "atai-old" and (offset, skip) == (0, 5)  # a new reader, passing over 1-5
    assert "No space left on device" in warnings[0] and "not reused" in warnings[1]
    store.release()


def test_clean_speaks_only_for_the_sessions_a_run_followed(emu, tmp_path):
    # Session A's entry says "not clean" (its last run was killed after a read); a run that
    # follows only B and stops cleanly must leave A as it was, and a run that fails before
    # following anything must leave every entry as it was.
    a, b = emu.running_session(MAILBOX_LENS_ID), emu.running_session(MAILBOX_LENS_ID)
    fill_mailbox(emu, b, 5)
    path = tmp_path / "c.json"
    entry_a = {"channel": "read", "last_event_id": "3", "client_id": "atai-killed", "server_offset": 9, "clean": False}
    path.write_text(json.dumps({a: entry_a}))
    assert run_cli("tail", b, "--cursor-file", str(path), "--max-events", "5").exit_code == 0
    saved_file = json.loads(path.read_text())
    assert saved_file[a] == entry_a and saved_file[b]["clean"] is True
    before = path.read_text()
    assert run_cli("tail", "lsn-no-such-session", "--cursor-file", str(path)).exit_code == 4
    assert json.loads(path.read_text())[b]["clean"] is True and json.loads(path.read_text())[a] == entry_a
    assert json.loads(before)[b] == json.loads(path.read_text())[b]


def test_a_read_reply_lost_with_its_socket_loses_nothing(emu):
    # The server handed a batch over (its cursor for the client_id moved) and the socket
    # dropped before the reply arrived: reading on with the same id would skip that batch.
    emu.configure(ws_lose_batch_every=2)
    sid = emu.running_session(MAILBOX_LENS_ID)
    fill_mailbox(emu, sid, 40)
    tail = atai_process(emu, "tail", sid, "--meta", "--max-events", "80", "--timeout", "60")
    lines = read_lines(tail, 40)  # the first batch
    start_input(emu, sid, 40)  # the next batch carrying messages is lost with its socket
    rest, err = finish(tail)
    assert tail.returncode == 0, err
    lines += meta_lines(rest)
    assert [line["id"] for line in lines] == [str(n) for n in range(1, 81)]
    assert [seq(line) for line in lines] == list(range(40)) * 2  # each input counts from 0


def test_a_named_client_id_that_read_before_keeps_mailbox_positions_as_ids(emu):
    # The server does not say how far a reader got: atai finds where the first message a
    # --client-id hands over stands in the mailbox, so the ids are positions, not 1, 2, 3 again.
    sid = emu.running_session(MAILBOX_LENS_ID)
    fill_mailbox(emu, sid, 30)
    first = run_cli("tail", sid, "--meta", "--client-id", "shared-reader", "--max-events", "10")
    assert first.exit_code == 0, first.stderr
    assert [json.loads(line)["id"] for line in first.lines] == [str(n) for n in range(1, 11)]
    assert "20 mailbox messages read but not printed" in first.stderr  # the reader took all 30
    start_input(emu, sid, 10)
    emu.wait_for(lambda: len(emu.session(sid).mail) >= 40, timeout=60)
    again = run_cli("tail", sid, "--meta", "--client-id", "shared-reader", "--max-events", "10")
    assert again.exit_code == 0, again.stderr
    lines = meta_lines(again.stdout)
    assert [line["id"] for line in lines] == [str(n) for n in range(31, 41)]
    assert [seq(line) for line in lines] == list(range(10))


def test_the_hint_after_give_up_after_resumes_without_a_loss(emu):
    import re

    emu.configure(idle_timeout_s=0)
    sid = emu.running_session(SSE_LENS_ID)
    tail = atai_process(emu, "tail", sid, "--meta", "--give-up-after", "1")
    emu.wait_for_reader(sid)
    # The stream breaks after 10 events and the consumer answers 503 from then on.
    emu.configure(drop_every=10, fail_rate=1.0, fail_path="consumer", fail_status=503)
    start_input(emu, sid, 30)
    out, err = finish(tail)
    assert tail.returncode == 1, err
    since = re.search(rf"atai tail {sid} .*--since (\S+)", err).group(1)
    emu.configure(drop_every=0, fail_rate=0.0)
    emu.wait_for(lambda: emu.session(sid).num_outputs >= 30, timeout=60)
    first = meta_lines(out)
    again = run_cli("tail", sid, "--meta", "--since", since, "--max-events", str(30 - len(first)))
    assert again.exit_code == 0, again.stderr
    assert [seq(line) for line in first + meta_lines(again.stdout)] == list(range(30))


def test_a_named_reader_stopped_before_it_was_placed_is_not_reused(tmp_path):
    # --client-id X read a batch, and the run stopped (cleanly or not) before atai found where
    # that batch stands: X's server cursor is past it, at a place nobody knows.
    from atai_cli.pipeline.cursors import CursorStore

    path = tmp_path / "c.json"
    store = CursorStore(path)
    store.start("lsn-a", "read", None, "named-x", None, 0)
    assert saved(path, "lsn-a") == {"channel": "read", "last_event_id": None, "client_id": "named-x",
                                    "server_offset": None, "clean": False}  # before its first read
    store.note_read("lsn-a", None, "named-x")  # a batch came, not placed yet
    store.save(clean=True)
    assert saved(path, "lsn-a")["clean"] is False
    store.release()
    warnings: list[str] = []
    again = CursorStore(path, warn=warnings.append)
    _, client_id, offset, skip = again.resume_point("lsn-a", "read")
    assert client_id != "named-x" and (offset, skip) == (0, 0)  # the mailbox from its start
    assert "not reused" in warnings[0]
    again.release()
    # Stopped cleanly before it read anything: it is reused, and located again.
    calm = CursorStore(tmp_path / "d.json")
    calm.start("lsn-b", "read", None, "named-y", None, 0)
    calm.save(clean=True)
    calm.release()
    assert CursorStore(tmp_path / "d.json").resume_point("lsn-b", "read") == (None, "named-y", None, 0)


def test_an_sse_follow_killed_before_its_first_save_resumes_from_its_first_event(emu, tmp_path):
    # Without a saved id a restarted SSE follow starts live: the file says where this one began
    # before its first event is printed.
    emu.configure(idle_timeout_s=0)
    sid = emu.running_session(SSE_LENS_ID)
    start_input(emu, sid, 30)
    emu.wait_for(lambda: emu.session(sid).num_outputs >= 30, timeout=60)
    path = tmp_path / "c.json"
    first = atai_process(emu, "tail", sid, "--meta", "--cursor-file", str(path))
    lines = read_lines(first, 1)
    assert saved(path, sid)["last_event_id"] == str(int(lines[0]["id"]) - 1)
    first.send_signal(signal.SIGKILL)
    rest, _ = finish(first)
    lines += meta_lines(rest)
    again = run_cli("tail", sid, "--meta", "--cursor-file", str(path), "--max-events", str(30 - saved_position(path, sid)))
    assert again.exit_code == 0, again.stderr
    assert {seq(line) for line in lines + meta_lines(again.stdout)} == set(range(30))  # 0 lost


def test_sigterm_then_restart_repeats_nothing(emu, tmp_path):
    sid = emu.running_session(MAILBOX_LENS_ID)
    path = tmp_path / "c.json"
    first = atai_process(emu, "tail", sid, "--meta", "--cursor-file", str(path))
    emu.push(sid, range(30))
    lines = read_lines(first, 10)
    first.send_signal(signal.SIGTERM)
    rest, err = finish(first)
    assert first.returncode == 143, err
    lines += meta_lines(rest)
    emu.push(sid, range(30, 50))
    again = run_cli("tail", sid, "--meta", "--cursor-file", str(path), "--max-events", str(50 - len(lines)))
    assert again.exit_code == 0, again.stderr
    assert [seq(line) for line in lines] + [seq(json.loads(line)) for line in again.lines] == list(range(50))


# -- --since on the read channel ------------------------------------------------------------
def test_since_on_the_mailbox_is_a_position(emu):
    sid = emu.running_session(MAILBOX_LENS_ID)
    fill_mailbox(emu, sid, 10)
    resumed = run_cli("tail", sid, "--meta", "--since", "6", "--max-events", "4")
    assert resumed.exit_code == 0, resumed.stderr
    assert [json.loads(line)["id"] for line in resumed.lines] == ["7", "8", "9", "10"]
    for bad in ("abc", "0", "-3", "2.5"):
        refused = run_cli("tail", sid, "--since", bad, "--max-events", "1")
        assert refused.exit_code == 2 and "position" in refused.stderr and "Traceback" not in refused.stderr


def test_a_trimmed_mailbox_is_said_and_nothing_is_skipped(emu, tmp_path):
    sid = emu.running_session(MAILBOX_LENS_ID)
    fill_mailbox(emu, sid, 12)
    path = tmp_path / "c.json"
    path.write_text(json.dumps({sid: {"channel": "read", "last_event_id": "10", "client_id": None}}))
    del emu.session(sid).mail[:5]  # the platform dropped the start: 7 retained, fewer than 10
    resumed = run_cli("tail", sid, "--meta", "--cursor-file", str(path), "--max-events", "7")
    assert resumed.exit_code == 0, resumed.stderr
    assert "fewer than the position 10" in resumed.stderr
    assert [seq(json.loads(line)) for line in resumed.lines] == list(range(5, 12))  # all that is retained


# -- forwarding across SIGKILL ------------------------------------------------------------------
def test_forward_across_sigkill_gives_the_receiver_every_event_once(emu, tmp_path):
    sid = emu.running_session(MAILBOX_LENS_ID)
    path = tmp_path / "c.json"
    with Receiver() as receiver:
        for round_ in range(3):
            emu.push(sid, range(40 * round_, 40 * (round_ + 1)))
            delivered = len(receiver.delivered())
            tail = atai_process(emu, "tail", sid, "--cursor-file", str(path), "--forward-to", receiver.url(),
                                "--forward-secret", "s3cret-for-tests", stdout=subprocess.DEVNULL)
            emu.wait_for(lambda: len(receiver.delivered()) >= delivered + 20, timeout=60)
            emu.wait_for(lambda: saved_position(path, sid) > 0, timeout=30)
            tail.send_signal(signal.SIGKILL)
            tail.wait(timeout=30)
        total = 120
        position = saved_position(path, sid)
        final = run_cli("tail", sid, "--cursor-file", str(path), "--forward-to", receiver.url(),
                        "--forward-secret", "s3cret-for-tests", "--max-events", str(total - position))
        assert final.exit_code == 0, final.stderr
        kept: dict[tuple[str, str], int] = {}
        for request in receiver.delivered():
            key = (request.headers["Atai-Session-Id"], request.headers["Atai-Event-Id"])
            assert key[1], "every event has an id"
            kept.setdefault(key, seq(request.json))
    assert sorted(kept.values()) == list(range(total))  # after dropping repeats: every event once
    assert all(int(event_id) == value + 1 for (_, event_id), value in kept.items())


# -- replays keep their ids ---------------------------------------------------------------------
@pytest.mark.parametrize("ids", [
    ["s-1", "s-2", "s-3", "s-4", "s-5"],
    ["2026-06-08T00:00:01", "2026-06-08T00:00:02", "2026-06-08T00:00:03", "2026-06-08T00:00:04", "2026-06-08T00:00:05"],
    ["8f14e45f-ceea-467f-a1f3-0d1b1c5f8e01", "c9f0f895-fb98-4b91-99f5-1a3b2c1d4e02", "45c48cce-2e2d-4fbd-aa1a-3c5b7d9e0f03",
     "d3d94468-02a4-4e27-b1c2-3d4e5f6a7b04", "6512bd43-d9ca-4a6e-8f1a-2b3c4d5e6f05"],
    ["17", "5", "99", "3", "40"],
])
def test_a_replay_keeps_recorded_ids_and_resumes_after_one(tmp_path, monkeypatch, ids):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    header = {"atai_recording": 1, "created_at": "2026-06-08T00:00:00Z", "sessions": {"lsn-rec": {"lens_id": SSE_LENS_ID, "channel": "sse"}}}
    lines = [json.dumps(header)] + [
        json.dumps({"t": n * 0.01, "session_id": "lsn-rec", "id": event_id, "event": "message", "channel": "sse",
                    "data": {"type": "inference.result", "event_data": {"seq": n}}})
        for n, event_id in enumerate(ids)
    ]
    path = tmp_path / "rec.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with replaying(path, replay_speed=0) as server:
        sid = server.running_session("lns-replay-rec")
        played = on(server, "tail", sid, "--meta")
        assert played.exit_code == 0, played.stderr
        assert [json.loads(line)["id"] for line in played.lines] == ids
        resumed = on(server, "tail", sid, "--meta", "--since", ids[1])
        assert resumed.exit_code == 0, resumed.stderr
        assert [json.loads(line)["id"] for line in resumed.lines] == ids[2:]
        cursor = tmp_path / "c.json"
        cursor.write_text(json.dumps({sid: {"channel": "sse", "last_event_id": ids[3], "client_id": None}}))
        from_file = on(server, "tail", sid, "--meta", "--cursor-file", str(cursor))
        assert [json.loads(line)["id"] for line in from_file.lines] == ids[4:]


# -- one holder per cursor file, empty files, pruning -----------------------------------------
def test_a_second_process_on_a_cursor_file_exits_2_naming_the_holder(emu, tmp_path):
    sid = emu.running_session(MAILBOX_LENS_ID)
    path = tmp_path / "c.json"
    holder = atai_process(emu, "tail", sid, "--meta", "--cursor-file", str(path))
    try:
        fill_mailbox(emu, sid, 3)
        read_lines(holder, 3)
        emu.wait_for(lambda: path.exists())
        before = path.read_bytes()
        second = atai_process(emu, "tail", sid, "--cursor-file", str(path))
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2, err
        assert str(path) in err and str(holder.pid) in err and "Traceback" not in err
        assert path.read_bytes() == before  # untouched
    finally:
        holder.send_signal(signal.SIGINT)
        holder.communicate(timeout=30)
    assert run_cli("tail", sid, "--cursor-file", str(path), "--max-events", "1", "--timeout", "0.5").exit_code in (0, 5)


def test_an_empty_cursor_file_is_an_empty_set(emu, tmp_path):
    sid = emu.running_session(MAILBOX_LENS_ID)
    fill_mailbox(emu, sid, 3)
    path = tmp_path / "c.json"
    path.touch()
    result = run_cli("tail", sid, "--cursor-file", str(path), "--max-events", "3")
    assert result.exit_code == 0, result.stderr
    assert saved(path, sid)["last_event_id"] == "3"


def test_destroyed_and_unknown_sessions_leave_the_cursor_file(emu, tmp_path):
    sid = emu.running_session(MAILBOX_LENS_ID)
    keep = emu.running_session(MAILBOX_LENS_ID)
    path = tmp_path / "c.json"
    path.write_text(json.dumps({
        sid: {"channel": "read", "last_event_id": "2", "client_id": None},
        keep: {"channel": "read", "last_event_id": "1", "client_id": None},
        "lsn-unknown": {"channel": "sse", "last_event_id": "9", "client_id": None},
    }))
    with emu.api() as api:
        api.destroy_session(sid)
    run_cli("tail", sid, "lsn-unknown", "--cursor-file", str(path), "--timeout", "20")
    assert set(json.loads(path.read_text())) == {keep}


def test_a_bad_cursor_entry_is_refused_by_its_rule(emu, tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"lsn-1": {"channel": "read", "last_event_id": "not-a-position"}}))
    result = run_cli("tail", "lsn-1", "--cursor-file", str(path))
    assert result.exit_code == 2 and "mailbox position" in result.stderr and "Traceback" not in result.stderr


# -- hints that lose nothing, failing sinks -----------------------------------------------------
def test_ctrl_c_while_exec_holds_the_first_event_hints_a_lossless_resume(emu, tmp_path):
    emu.configure(idle_timeout_s=0)
    sid = emu.running_session(SSE_LENS_ID)
    record = tmp_path / "rec.jsonl"
    marker = tmp_path / "started"
    tail = atai_process(emu, "tail", sid, "--record", str(record), "--exec", f"touch {marker}; sleep 30")
    emu.wait_for_reader(sid)
    start_input(emu, sid, 5, rate_hz=100)
    emu.wait_for(marker.exists, timeout=30)
    tail.send_signal(signal.SIGINT)
    _, err = tail.communicate(timeout=30)
    assert tail.returncode == 130, err
    assert "exec: ran 1, 1 failed" in err  # killed is not ok
    assert f"--since 0 --record {record} --record-append" in err  # before the first event, never live
    resumed = run_cli("tail", sid, "--meta", "--since", "0", "--max-events", "5")
    assert [seq(json.loads(line)) for line in resumed.lines] == list(range(5))


@pytest.mark.parametrize("command", ["nosuchcommand-atai", "exit 3", "kill -9 $$"])
def test_a_failing_exec_makes_the_run_exit_1_after_a_summary(emu, command):
    sid = emu.running_session(MAILBOX_LENS_ID)
    fill_mailbox(emu, sid, 2)
    result = run_cli("tail", sid, "--exec", command, "--max-events", "2")
    assert result.exit_code == 1, result.stderr
    assert "exec: ran 2, 2 failed" in result.stderr and len(result.lines) == 2


def test_empty_forward_to_and_a_lone_record_append_are_usage_errors(emu):
    assert run_cli("tail", "lsn-x", "--forward-to", "").exit_code == 2
    lone = run_cli("tail", "lsn-x", "--record-append")
    assert lone.exit_code == 2 and "--record" in lone.stderr


# -- --changes-only -------------------------------------------------------------------------------
def test_changes_only_takes_the_jq_form():
    assert parse_path(".payload.response[0]") == ("payload", "response", 0)
    assert parse_path(".event_data.response[0]") == parse_path("event_data.response.0")


@pytest.mark.parametrize("path", [".payload.seq", ".event_data.seq", "event_data.seq"])
def test_changes_only_jq_paths_keep_changing_events_on_the_mailbox(emu, path):
    sid = emu.running_session(MAILBOX_LENS_ID)
    fill_mailbox(emu, sid, 5)
    result = run_cli("tail", sid, "--changes-only", path, "--max-events", "5")
    assert result.exit_code == 0, result.stderr
    assert len(result.lines) == 5


def test_a_path_no_event_has_is_warned_about_once(emu):
    sid = emu.running_session(MAILBOX_LENS_ID)
    fill_mailbox(emu, sid, 30)
    result = run_cli("tail", sid, "--changes-only", "event_data.respons.0", "--idle-exit", "0.5")
    assert result.exit_code == 0 and result.lines == []
    assert result.stderr.count("none of the first 20 events has this path") == 1
    assert "event_data.respons.0" in result.stderr and "data, timestamp, type" in result.stderr


# -- session list --watch -----------------------------------------------------------------------------
def test_watch_changes_are_additions_removals_and_status_changes_only():
    running = {"session_id": "a", "session_status": "RUNNING", "num_outputs": 1, "last_update_timestamp": 1.0}
    moved = {**running, "num_outputs": 9, "last_update_timestamp": 2.0}
    assert changes({"a": running}, {"a": moved}) == []
    stopped = {**moved, "session_status": "DESTROYED"}
    assert [c["change"] for c in changes({"a": moved}, {"a": stopped})] == ["updated"]
    assert [c["change"] for c in changes({}, {"a": running})] == ["added"]
    assert [c["change"] for c in changes({"a": running}, {})] == ["removed"]


def test_watch_piped_prints_nothing_while_only_counts_move(emu):
    busy = emu.running_session(MAILBOX_LENS_ID)
    watch = atai_process(emu, "session", "list", "--watch", "--interval", "0.1")
    try:
        assert json.loads(watch.stdout.readline())["change"] == "added"
        start_input(emu, busy, 400, rate_hz=200)
        emu.wait_for(lambda: len(emu.session(busy).mail) >= 20, timeout=30)
        other = emu.running_session(MAILBOX_LENS_ID)
        line = json.loads(watch.stdout.readline())
        assert (line["change"], line["session"]["session_id"]) == ("added", other)
        emu.wait_for(lambda: len(emu.session(busy).mail) >= 60, timeout=30)
        with emu.api() as api:
            api.destroy_session(other)
        line = json.loads(watch.stdout.readline())
        assert line["session"]["session_id"] == other  # not an "updated" of the busy session
    finally:
        watch.terminate()
        watch.wait(timeout=10)


def test_a_follow_has_a_client_id_of_its_own(emu, tmp_path):
    sid = emu.running_session(MAILBOX_LENS_ID)
    fill_mailbox(emu, sid, 3)
    for _ in range(2):
        assert run_cli("tail", sid, "--max-events", "3").exit_code == 0
    readers = set(emu.session(sid).read_cursors)
    assert len(readers) == 2 and all(reader.startswith("atai-") for reader in readers)
