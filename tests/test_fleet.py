"""`atai tail` on many sessions in one process (issue 10): every event once and in order per
session, failures isolated, discovery, the cursor file across Ctrl-C and SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import Counter, defaultdict

import pytest

from atai_cli.emulator.catalog import MAILBOX_LENS_ID, SSE_LENS_ID
from conftest import SAMPLE_CSV, atai_process, run_cli, saved_cursors

CSV_INPUT = {"stream_type": "csv_file_reader", "stream_config": {"file_id": "sample.csv"}}


def synthetic(count: int, rate_hz: float) -> dict:
    return {"stream_type": "synthetic_reader", "stream_config": {"count": count, "rate_hz": rate_hz, "payload_bytes": 8}}


def read_index(line: dict) -> int:
    data = line["data"]
    inner = data["event_data"] if line["channel"] == "sse" else data["data"]
    return inner["query_metadata"]["query_metadata"]["read_index"]


def feed_when_listening(emu, sse_ids, mailbox_ids, event=CSV_INPUT) -> threading.Thread:
    """Set each input once its tail listens (SSE outputs are live-only)."""

    def run() -> None:
        with emu.api() as api:
            for sid in mailbox_ids:
                api.session_event(sid, "input_stream.set", event)
            for sid in sse_ids:
                emu.wait_for_reader(sid, timeout=30)
                api.session_event(sid, "input_stream.set", event)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_ten_sse_and_three_mailbox_sessions_with_drops_every_event_once_in_order(cli, emu):
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    emu.configure(drop_every=2, drop_partial=True, ws_drop_every=3, idle_timeout_s=30)
    sse = [emu.running_session(SSE_LENS_ID) for _ in range(10)]
    mail = [emu.running_session(MAILBOX_LENS_ID) for _ in range(3)]
    feed_when_listening(emu, sse, mail)
    result = cli("tail", *sse, *mail, "--max-events", str(13 * 6), "--client-id", "fleet-test", "--timeout", "60")
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.lines]
    assert len(lines) == 13 * 6
    per_session = defaultdict(list)
    for line in lines:
        assert set(line) >= {"session_id", "id", "event", "channel", "data", "type", "payload", "timestamp"}
        per_session[line["session_id"]].append(line)
    assert set(per_session) == set(sse) | set(mail)
    for sid, got in per_session.items():
        assert [read_index(line) for line in got] == [0, 10, 20, 30, 40, 50], sid  # once each, in order
        assert {line["channel"] for line in got} == {"sse" if sid in sse else "read"}
        if sid in sse:
            assert [line["id"] for line in got] == ["1", "2", "3", "4", "5", "6"]
    for sid in sse + mail:
        assert f"+ {sid}" in result.stderr and f"- {sid}" in result.stderr


def test_an_unknown_id_fails_alone_and_the_others_go_on(cli, emu):
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    emu.configure(idle_timeout_s=0.5)
    good = [emu.running_session(SSE_LENS_ID) for _ in range(2)]
    feed_when_listening(emu, good, [])
    result = cli("tail", good[0], "lsn-missing", good[1])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.lines]
    assert Counter(line["session_id"] for line in lines) == {good[0]: 6, good[1]: 6}
    assert "- lsn-missing failed" in result.stderr
    assert "1 of 3 sessions failed: lsn-missing" in result.stderr
    assert "2 ended, 1 failed" in result.stderr


def test_a_destroyed_session_ends_alone(cli, emu):
    emu.configure(idle_timeout_s=0)
    mailbox, sse = emu.running_session(MAILBOX_LENS_ID), emu.running_session(SSE_LENS_ID)
    emu.destroy_later(sse, wait_reader=True)
    emu.destroy_later(mailbox, wait_connected=True, delay=0.5)
    result = cli("tail", mailbox, sse)
    assert result.exit_code == 0, result.stderr  # both ended cleanly: destroyed is a clean end
    assert f"- {sse} sse.stream.end" in result.stderr  # the server says goodbye on destroy
    assert f"- {mailbox} session was destroyed" in result.stderr


def test_lens_follows_sessions_created_after_the_start(emu):
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    emu.configure(idle_timeout_s=0)
    first = emu.running_session(SSE_LENS_ID)
    emu.running_session(MAILBOX_LENS_ID)  # another lens: not followed
    tail = atai_process(emu, "tail", "--lens", SSE_LENS_ID, "--discover-interval", "0.2", "--max-events", "12")
    emu.wait_for_reader(first)
    later = emu.running_session(SSE_LENS_ID)
    emu.wait_for_reader(later, timeout=30)  # discovered and followed
    with emu.api() as api:
        api.session_event(first, "input_stream.set", CSV_INPUT)
        api.session_event(later, "input_stream.set", CSV_INPUT)
    out, err = tail.communicate(timeout=60)
    assert tail.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert Counter(line["session_id"] for line in lines) == {first: 6, later: 6}
    assert f"+ {later}" in err


def test_lens_and_ids_do_not_combine_and_an_unknown_lens_stops_first(cli, emu):
    combined = cli("tail", "lsn-x", "--lens", SSE_LENS_ID)
    assert combined.exit_code == 2 and "not both" in combined.stderr
    unknown = cli("tail", "--lens", "lns-nope")
    assert unknown.exit_code == 4 and "lns-nope" in unknown.stderr
    assert cli("tail").exit_code == 2


@pytest.mark.parametrize("content,needle", [
    ("{not json", "not valid JSON"),
    ('["a list"]', "expected a JSON object"),
    ('{"lsn-1": {"channel": "carrier pigeon"}}', 'channel must be "sse" or "read"'),
    ('{"lsn-1": {"channel": "sse", "last_event_id": 7}}', "last_event_id must be a string"),
])
def test_a_bad_cursor_file_is_refused_and_left_untouched(cli, emu, tmp_path, content, needle):
    path = tmp_path / "cursors.json"
    path.write_text(content)
    result = cli("tail", "lsn-1", "--cursor-file", str(path))
    assert result.exit_code == 2 and str(path) in result.stderr and needle in result.stderr
    assert path.read_text() == content


def cursors(path) -> dict:
    return json.loads(path.read_text())


def interrupt_a_fleet_midway(emu, *extra: str) -> tuple[str, str, list[dict], str]:
    """An SSE and a mailbox session each fed 60 events, followed by one `atai tail` that gets
    Ctrl-C after 30 lines: (sse, mailbox, the lines it printed, its stderr)."""
    emu.configure(idle_timeout_s=0)
    sse, mail = emu.running_session(SSE_LENS_ID), emu.running_session(MAILBOX_LENS_ID)
    first = atai_process(emu, "tail", sse, mail, *extra)
    emu.wait_for_reader(sse)
    with emu.api() as api:
        api.session_event(sse, "input_stream.set", synthetic(60, 40))
        api.session_event(mail, "input_stream.set", synthetic(60, 40))
    seen = [json.loads(first.stdout.readline()) for _ in range(30)]
    first.send_signal(signal.SIGINT)
    out, err = first.communicate(timeout=30)
    assert first.returncode == 130, err
    seen += [json.loads(line) for line in out.splitlines()]
    emu.wait_for(lambda: emu.session(sse).num_outputs >= 60 and emu.session(mail).num_outputs >= 60, timeout=30)
    return sse, mail, seen, err


def test_cursor_file_resume_after_ctrl_c_repeats_nothing(emu, tmp_path):
    path = tmp_path / "cursors.json"
    sse, mail, seen, err = interrupt_a_fleet_midway(emu, "--cursor-file", str(path))
    assert "--cursor-file" in err  # the resume hint names it
    saved = cursors(path)
    assert saved[sse]["channel"] == "sse" and saved[mail]["channel"] == "read"
    assert os.stat(path).st_mode & 0o777 == 0o600
    second = atai_process(emu, "tail", sse, mail, "--cursor-file", str(path), "--idle-exit", "1")
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    rest = [json.loads(line) for line in out.splitlines()]
    for sid in (sse, mail):
        seqs = [line["data"]["event_data" if line["channel"] == "sse" else "data"]["seq"]
                for line in seen + rest if line["session_id"] == sid]
        assert seqs == list(range(60)), sid  # nothing lost, nothing repeated


def test_without_a_cursor_file_the_ctrl_c_hint_resumes_each_session_losing_nothing(emu):
    sse, mail, seen, err = interrupt_a_fleet_midway(emu)
    lines = err.splitlines()
    start = next(i for i, line in enumerate(lines) if line.endswith("resume each session with:"))
    commands = [line.strip() for line in lines[start + 1:] if line.startswith("  atai tail ")]  # one a line
    assert len(commands) == 2 and "--cursor-file FILE" in lines[start + 3]
    assert sorted(command.split()[2] for command in commands) == sorted([sse, mail])
    for command in commands:
        argv = command.split()[1:]  # "atai tail SID [--since ID]"
        again = atai_process(emu, *argv, "--idle-exit", "1")
        out, err = again.communicate(timeout=60)
        assert again.returncode == 0, err
        sid = argv[1]
        channel = "sse" if sid == sse else "read"
        key = "event_data" if channel == "sse" else "data"
        before = [line["data"][key]["seq"] for line in seen if line["session_id"] == sid]
        after = [json.loads(line)[key]["seq"] for line in out.splitlines()]
        assert before + after == list(range(60)), sid  # nothing lost, nothing repeated


def test_cursor_file_resume_after_sigkill_loses_nothing(emu, tmp_path):
    emu.configure(idle_timeout_s=0)
    sse = emu.running_session(SSE_LENS_ID)
    path = tmp_path / "cursors.json"
    first = atai_process(emu, "tail", sse, "--cursor-file", str(path))
    emu.wait_for_reader(sse)
    with emu.api() as api:
        api.session_event(sse, "input_stream.set", synthetic(100, 50))
    seen = [json.loads(first.stdout.readline()) for _ in range(40)]
    emu.wait_for(lambda: sse in saved_cursors(path), timeout=30)  # past at least one save while events flow
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    seen += [json.loads(line) for line in first.stdout.read().splitlines() if line.strip()]
    emu.wait_for(lambda: emu.session(sse).num_outputs >= 100, timeout=30)
    second = atai_process(emu, "tail", sse, "--cursor-file", str(path), "--idle-exit", "1")
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    first_seqs = [line["event_data"]["seq"] for line in seen]
    again = [json.loads(line)["event_data"]["seq"] for line in out.splitlines()]
    assert sorted(set(first_seqs) | set(again)) == list(range(100))  # nothing lost
    repeated = set(first_seqs) & set(again)
    assert len(repeated) <= 50 + 5  # at most about a second's worth (50 events/s), never the whole stream
    assert again == sorted(again) and again[-1] == 99


def test_timeout_over_a_fleet_exits_5(cli, emu):
    sessions = [emu.running_session(SSE_LENS_ID) for _ in range(2)]
    emu.configure(idle_timeout_s=0)
    result = cli("tail", *sessions, "--timeout", "0.5")
    assert result.exit_code == 5 and "--timeout 0.5s reached" in result.stderr


def test_one_session_keeps_the_v1_output(cli, emu):
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    emu.configure(idle_timeout_s=0.5)
    sid = emu.running_session(SSE_LENS_ID)
    feed_when_listening(emu, [sid], [])
    result = cli("tail", sid)
    assert result.exit_code == 0
    assert all("session_id" not in json.loads(line) for line in result.lines)
    assert "+ " not in result.stderr


def means(line: dict) -> float:
    return line["data"]["data"]["channel_means"][0]


def test_max_events_across_sessions_never_moves_a_cursor_past_what_was_not_printed(emu, tmp_path):
    a, b = emu.running_session(MAILBOX_LENS_ID), emu.running_session(MAILBOX_LENS_ID)
    emu.push(a, range(6))
    emu.push(b, range(10, 16))
    cursor = tmp_path / "c.json"
    first = run_cli("tail", a, b, "--max-events", "3", "--cursor-file", str(cursor))
    assert first.exit_code == 0, first.stderr
    second = run_cli("tail", a, b, "--cursor-file", str(cursor), "--idle-exit", "1")
    assert second.exit_code == 0, second.stderr
    seen = Counter((line["session_id"], means(line)) for line in map(json.loads, first.lines + second.lines))
    assert seen == Counter({**{(a, float(n)): 1 for n in range(6)}, **{(b, float(n)): 1 for n in range(10, 16)}})


def test_the_fleet_resume_hint_is_one_command_a_line():
    from types import SimpleNamespace

    from atai_cli.commands.following import Follow

    def hint(count: int) -> str:
        sessions = [f"lsn-2612{n:030x}" for n in range(count)]
        fake = SimpleNamespace(result=SimpleNamespace(outcomes=[SimpleNamespace(session_id=s) for s in sessions]),
                               _resume_command=lambda sid: f"atai tail {sid} --since {int(sid[-4:], 16) + 7}")
        return Follow._fleet_resume_hint(fake, "")

    one = hint(1)
    assert "\n" not in one and "--since 7" in one and "--cursor-file FILE" in one
    two = hint(2).splitlines()
    assert two[0] == "resume each session with:" and two[1:3] == [
        f"  atai tail lsn-2612{0:030x} --since 7", f"  atai tail lsn-2612{1:030x} --since 8"]  # each its own --since
    assert "--cursor-file FILE" in two[3]
    many = hint(24).splitlines()
    assert len([line for line in many if line.startswith("  atai tail ")]) == 24  # lossless: every session
    assert "next time" in many[-1] and "--cursor-file FILE" in many[-1]
