"""Handing events to the user's programs (issue 11): --forward-to against real HTTP receivers
on loopback, --exec, --changes-only, and delivery that loses nothing across restarts."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from atai_cli.client.forwarder import check_forward_url, header_value
from atai_cli.emulator.catalog import MAILBOX_LENS_ID, SSE_LENS_ID
from atai_cli.errors import UsageError
from atai_cli.protocol.signing import verify
from conftest import SAMPLE_CSV, atai_process, run_cli, subprocess_env
from receiver import Receiver, Script, free_port

CSV_INPUT = {"stream_type": "csv_file_reader", "stream_config": {"file_id": "sample.csv"}}
SECRET = "test-forward-secret"


@pytest.fixture
def csv_session(emu):
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    emu.configure(idle_timeout_s=0)
    return emu.running_session(SSE_LENS_ID)


def feed(emu, session_id, event=CSV_INPUT) -> threading.Thread:
    return emu.set_input_later(session_id, event)


def in_background(*args, **kwargs):
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", run_cli(*args, **kwargs)), daemon=True)
    thread.start()
    return thread, box


def check_signed(received, secret=SECRET):
    for request in received:
        assert verify(secret, request.body, request.headers["Atai-Signature"]), request.headers
        assert "Authorization" not in request.headers


def test_a_receiver_that_is_down_then_failing_gets_every_event_in_order_signed(emu, csv_session):
    port = free_port()  # nothing listens yet: connection refused
    feed(emu, csv_session)
    said = io.StringIO()
    thread, box = in_background("tail", csv_session, "--forward-to", f"http://127.0.0.1:{port}/hook",
                                "--forward-secret", SECRET, "--max-events", "6", "--timeout", "60", stderr=said)
    emu.wait_for(lambda: "connection refused" in said.getvalue(), timeout=30)  # refused at least once
    script = Script(steps=[500, (429, {"Retry-After": "0.2"}), 503])
    with Receiver(script, port=port) as receiver:
        thread.join(60)
        result = box["result"]
        assert result.exit_code == 0, result.stderr
        delivered = receiver.delivered()
    assert [r.body.decode() for r in delivered] == result.lines  # the body is exactly the printed line
    assert [r.headers["Atai-Event-Id"] for r in delivered] == ["1", "2", "3", "4", "5", "6"]
    assert {r.headers["Atai-Event-Type"] for r in delivered} == {"inference.result"}
    assert {r.headers["Atai-Session-Id"] for r in delivered} == {csv_session}
    assert all(r.headers["Content-Type"] == "application/json" for r in delivered)
    check_signed(receiver.received)
    assert "connection refused" in result.stderr and "forward 500" in result.stderr and "forward 429" in result.stderr
    assert "6 delivered" in result.stderr and "0 rejected" in result.stderr
    assert emu.api_key not in json.dumps([dict(r.headers) for r in receiver.received]) + "".join(r.body.decode() for r in receiver.received)


def test_a_rejected_event_is_reported_and_the_rest_delivered(emu, csv_session):
    feed(emu, csv_session)
    with Receiver(Script(reject={"3"})) as receiver:
        result = run_cli("tail", csv_session, "--forward-to", receiver.url(), "--forward-secret", SECRET, "--max-events", "6")
        delivered = [r.headers["Atai-Event-Id"] for r in receiver.delivered()]
    assert result.exit_code == 1
    assert delivered == ["1", "2", "4", "5", "6"]
    assert "forward 400 inference.result" in result.stderr and "rejected" in result.stderr
    assert "5 delivered, 0 retried, 1 rejected" in result.stderr


def test_a_redirect_is_a_rejection_never_followed(emu, csv_session):
    feed(emu, csv_session)
    with Receiver(Script(steps=[(307, {"Location": "/elsewhere"})])) as receiver:
        result = run_cli("tail", csv_session, "--forward-to", receiver.url(), "--forward-secret", SECRET, "--max-events", "2")
        paths = [r.path for r in receiver.received]
    assert result.exit_code == 1 and "forward 307" in result.stderr
    assert "/elsewhere" not in paths


def test_one_sessions_failing_receiver_does_not_block_the_other(emu):
    emu.configure(idle_timeout_s=0)
    stuck, flowing = emu.running_session(MAILBOX_LENS_ID), emu.running_session(MAILBOX_LENS_ID)
    release = threading.Event()
    script = Script(decide=lambda headers: None if release.is_set() or headers.get("Atai-Session-Id") != stuck else 503)
    with emu.api() as api:
        for sid in (stuck, flowing):
            api.session_event(sid, "input_stream.set", {"stream_type": "synthetic_reader", "stream_config": {"count": 5, "rate_hz": 50}})
    with Receiver(script) as receiver:
        thread, box = in_background("tail", stuck, flowing, "--forward-to", receiver.url(), "--forward-secret", SECRET,
                                    "--max-events", "10", "--client-id", "fwd", "--timeout", "60")
        emu.wait_for(lambda: len([r for r in receiver.delivered() if r.headers["Atai-Session-Id"] == flowing]) == 5, timeout=30)
        assert not [r for r in receiver.delivered() if r.headers["Atai-Session-Id"] == stuck]  # still held back
        release.set()
        thread.join(60)
        result = box["result"]
        order = [json.loads(r.body)["data"]["data"]["seq"] for r in receiver.delivered() if r.headers["Atai-Session-Id"] == stuck]
    assert result.exit_code == 0, result.stderr
    assert order == [0, 1, 2, 3, 4]  # in order once the receiver came back; nothing skipped


def test_cursor_file_and_forward_across_a_restart_lose_and_repeat_nothing(emu, tmp_path):
    emu.configure(idle_timeout_s=0)
    sid = emu.running_session(SSE_LENS_ID)
    cursor = tmp_path / "cursors.json"
    recording = tmp_path / "session.jsonl"
    accepted = {"n": 0}

    def first_receiver(headers):
        if accepted["n"] >= 3:
            return 503  # down after three deliveries
        accepted["n"] += 1
        return 200

    with Receiver(Script(decide=first_receiver)) as receiver:
        tail = atai_process(emu, "tail", sid, "--forward-to", receiver.url(), "--forward-secret", SECRET,
                            "--cursor-file", str(cursor), "--meta", "--record", str(recording))
        emu.wait_for_reader(sid)
        with emu.api() as api:
            api.session_event(sid, "input_stream.set", {"stream_type": "synthetic_reader", "stream_config": {"count": 8, "rate_hz": 50}})
        emu.wait_for(lambda: len([r for r in receiver.received if r.status == 503]) >= 2, timeout=30)
        tail.send_signal(signal.SIGINT)
        out, err = tail.communicate(timeout=30)
        first = [r.headers["Atai-Event-Id"] for r in receiver.delivered()]
    assert tail.returncode == 130, err
    assert first == ["1", "2", "3"]
    assert json.loads(cursor.read_text())[sid]["last_event_id"] == "3"  # not past what was not delivered
    printed = [json.loads(line)["id"] for line in out.splitlines()]
    assert printed == ["1", "2", "3"]  # the held event 4 is printed once delivered, not before
    with Receiver() as receiver:
        again = atai_process(emu, "tail", sid, "--forward-to", receiver.url(), "--forward-secret", SECRET,
                             "--cursor-file", str(cursor), "--idle-exit", "1", "--meta",
                             "--record", str(recording), "--record-append")
        out, err = again.communicate(timeout=60)
        second = [r.headers["Atai-Event-Id"] for r in receiver.delivered()]
    assert again.returncode == 0, err
    assert second == ["4", "5", "6", "7", "8"]  # nothing re-delivered after a 2xx, nothing skipped
    assert printed + [json.loads(line)["id"] for line in out.splitlines()] == [str(n) for n in range(1, 9)]
    recorded = [json.loads(line)["id"] for line in recording.read_text().splitlines()[1:]]
    assert recorded == [str(n) for n in range(1, 9)]  # each event recorded once across the restart


@pytest.mark.parametrize("url,code", [
    ("http://example.com/hook", 2), ("ftp://127.0.0.1/x", 2), ("not a url", 2),
])
def test_forward_urls_must_be_loopback_http_or_https(cli, emu, url, code):
    result = cli("tail", "lsn-never-contacted", "--forward-to", url)
    assert result.exit_code == code and "--forward-to" in result.stderr


def test_insecure_forward_allows_plain_http_elsewhere(cli, emu):
    result = cli("tail", "lsn-missing", "--forward-to", "http://192.0.2.1/hook", "--insecure-forward")
    assert result.exit_code == 4  # got past the URL check to the API


def test_the_profile_forward_secret_signs_when_none_is_given(emu, csv_session):
    feed(emu, csv_session)
    with Receiver() as receiver:
        result = run_cli("tail", csv_session, "--forward-to", receiver.url(), "--max-events", "1")
        received = receiver.delivered()
    assert result.exit_code == 0, result.stderr
    secret = run_cli("config", "get", "forward_secret").stdout.strip()
    check_signed(received, secret)
    assert secret not in result.stdout + result.stderr


def test_exec_runs_per_event_in_order_with_the_line_and_no_key(emu, csv_session, tmp_path, monkeypatch):
    monkeypatch.setenv("MY_COPY_OF_THE_KEY", emu.api_key)
    feed(emu, csv_session)
    script = (f'cat >> {tmp_path}/stdin.txt; echo >> {tmp_path}/stdin.txt; '
              f'echo "$ATAI_SESSION_ID $ATAI_EVENT_ID $ATAI_EVENT_TYPE" >> {tmp_path}/env.txt; env > {tmp_path}/full-env.txt')
    result = run_cli("tail", csv_session, "--exec", script, "--max-events", "6")
    assert result.exit_code == 0, result.stderr
    lines = [line for line in (tmp_path / "stdin.txt").read_text().splitlines() if line]
    assert lines == result.lines
    assert (tmp_path / "env.txt").read_text().splitlines() == [f"{csv_session} {n} inference.result" for n in range(1, 7)]
    full = (tmp_path / "full-env.txt").read_text()
    assert "ATAI_API_KEY" not in full and emu.api_key not in full


def test_a_failing_exec_is_reported_and_the_tail_goes_on(emu, csv_session):
    feed(emu, csv_session)
    result = run_cli("tail", csv_session, "--exec", "exit 3", "--max-events", "3")
    # contract v3: a failing sink is not a success (exit 1 at the end, after the summary)
    assert result.exit_code == 1 and len(result.lines) == 3
    assert result.stderr.count("exec exited 3") == 3 and "exec: ran 3, 3 failed" in result.stderr


def test_changes_only_keeps_exactly_the_changes_on_both_channels(emu, tmp_path):
    emu.configure(idle_timeout_s=0)
    values = [1, 1, 0, 0, 0, 1, 0, 0]  # active active idle idle idle active idle idle
    mailbox = emu.running_session(MAILBOX_LENS_ID)
    emu.push(mailbox, values)
    result = run_cli("tail", mailbox, "--changes-only", "event_data.response.0", "--client-id", "changes", "--idle-exit", "1")
    assert [json.loads(line)["data"]["response"][0] for line in result.lines] == ["active", "idle", "active", "idle"]
    sse = emu.running_session(SSE_LENS_ID)
    pusher = threading.Thread(target=lambda: (emu.wait_for_reader(sse), emu.push(sse, values)), daemon=True)
    pusher.start()
    with Receiver() as receiver:
        result = run_cli("tail", sse, "--changes-only", "event_data.response.0", "--idle-exit", "1",
                         "--forward-to", receiver.url(), "--forward-secret", SECRET, "--exec", f"cat >> {tmp_path}/x")
        forwarded = [json.loads(r.body)["event_data"]["response"][0] for r in receiver.delivered()]
    printed = [json.loads(line)["event_data"]["response"][0] for line in result.lines]
    assert printed == forwarded == ["active", "idle", "active", "idle"]
    assert len((tmp_path / "x").read_text().splitlines()) == 4


def test_changes_only_goes_on_from_the_last_kept_value_across_a_restart(emu, tmp_path):
    emu.configure(idle_timeout_s=0)
    mailbox = emu.running_session(MAILBOX_LENS_ID)
    emu.push(mailbox, [1, 1, 0, 0, 0, 1, 0, 0])  # active active idle idle idle active idle idle
    cursor = tmp_path / "c.json"
    args = ("tail", mailbox, "--meta", "--changes-only", ".payload.response[0]", "--cursor-file", str(cursor))
    first = run_cli(*args, "--max-events", "2")
    assert [json.loads(line)["id"] for line in first.lines] == ["1", "3"]  # active, idle
    assert json.loads(cursor.read_text())[mailbox]["changes_only"] == {
        "path": ".payload.response[0]", "last": {"inference.result": "idle"}}
    again = run_cli(*args, "--idle-exit", "1")
    assert again.exit_code == 0, again.stderr
    # 4 and 5 are idle like 3, the last kept before the restart: not changes.
    assert [(json.loads(line)["id"], json.loads(line)["payload"]["response"][0]) for line in again.lines] == [
        ("6", "active"), ("7", "idle")]


@pytest.mark.parametrize("path", ["", "a..b", "a[x]", "a."])  # ".a" is the jq form since v3
def test_a_bad_changes_only_path_is_a_usage_error(cli, emu, path):
    result = cli("tail", "lsn-x", "--changes-only", path)
    assert result.exit_code == 2 and "--changes-only" in result.stderr


def readme_receiver(port: int) -> str:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = text.split("<!-- receiver -->", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    assert len([line for line in block.strip().splitlines() if line.strip()]) <= 10  # "in ten lines"
    return block.replace("8000", str(port))


def test_the_readme_receiver_verifies_what_atai_sends(emu, csv_session, tmp_path):
    import subprocess
    import sys

    import httpx

    port = free_port()
    script = tmp_path / "receiver.py"
    script.write_text(readme_receiver(port))
    receiver = subprocess.Popen([sys.executable, str(script)], env={**os.environ, "ATAI_FORWARD_SECRET": SECRET},
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for _ in range(200):
            try:
                httpx.post(f"http://127.0.0.1:{port}/", content=b"{}", headers={"Atai-Signature": "t=0,v1=00"})
                break
            except httpx.TransportError:
                time.sleep(0.05)
        feed(emu, csv_session)
        result = run_cli("tail", csv_session, "--forward-to", f"http://127.0.0.1:{port}/hook",
                         "--forward-secret", SECRET, "--max-events", "3")
        assert result.exit_code == 0, result.stderr
        assert result.stderr.count("forward 204") == 3
        forged = httpx.post(f"http://127.0.0.1:{port}/", content=b'{"x":1}', headers={"Atai-Signature": f"t={int(time.time())},v1=00"})
        assert forged.status_code == 401
    finally:
        receiver.terminate()
        printed = receiver.communicate(timeout=10)[0].splitlines()
    assert printed == result.lines


def test_a_command_still_running_at_ctrl_c_is_waited_for_then_terminated(emu, csv_session, tmp_path):
    pidfile = tmp_path / "child.pid"
    tail = atai_process(emu, "tail", csv_session, "--exec", f"echo $$ > {pidfile}; exec sleep 60")
    emu.wait_for_reader(csv_session)
    with emu.api() as api:
        api.session_event(csv_session, "input_stream.set", CSV_INPUT)
    emu.wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), timeout=30)
    child = int(pidfile.read_text())
    tail.send_signal(signal.SIGINT)
    assert tail.wait(timeout=30) == 130
    stderr = tail.stderr.read()
    assert "exec terminated at exit" in stderr
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the --exec child outlived atai")


def test_debug_traces_forwarding_without_any_secret(emu, csv_session):
    feed(emu, csv_session)
    with Receiver() as receiver:
        result = run_cli("--debug", "tail", csv_session, "--forward-to", receiver.url(), "--forward-secret", SECRET,
                         "--max-events", "2")
    assert result.exit_code == 0, result.stderr
    assert "> POST " + receiver.url() in result.stderr
    assert SECRET not in result.stderr + result.stdout and emu.api_key not in result.stderr + result.stdout


def test_the_forward_secret_never_reaches_exec_or_a_recording(emu, csv_session, tmp_path, monkeypatch):
    monkeypatch.setenv("SOMEWHERE", f"copy of {SECRET}")
    feed(emu, csv_session)
    record = tmp_path / "rec.jsonl"
    with Receiver() as receiver:
        result = run_cli("tail", csv_session, "--forward-to", receiver.url(), "--forward-secret", SECRET, "--max-events", "2",
                         "--exec", f"env > {tmp_path}/env.txt", "--record", str(record))
    assert result.exit_code == 0, result.stderr
    assert SECRET not in (tmp_path / "env.txt").read_text() and SECRET not in record.read_text()


def test_idle_exit_does_not_count_while_a_receiver_holds_an_event(emu, tmp_path):
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    emu.configure(idle_timeout_s=0)
    port = free_port()
    import threading

    def come_back_later() -> None:
        time.sleep(2.5)  # longer than --idle-exit: the receiver is down all that time
        with Receiver(port=port) as receiver:
            box["receiver"] = receiver
            done.wait(30)

    box, done = {}, threading.Event()
    threading.Thread(target=come_back_later, daemon=True).start()
    result = run_cli("run", SSE_LENS_ID, "--csv", str(SAMPLE_CSV), "--forward-to", f"http://127.0.0.1:{port}/",
                     "--forward-secret", "s", "--idle-exit", "1")
    delivered = [r.headers["Atai-Event-Id"] for r in box["receiver"].delivered()]
    done.set()
    assert result.exit_code == 0, result.stderr
    assert delivered == ["1", "2", "3", "4", "5", "6"]
    assert "6 delivered" in result.stderr


def test_ctrl_c_at_the_terminal_waits_for_the_exec_command_then_terminates_it(emu, tmp_path):
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    emu.configure(idle_timeout_s=0)
    sid = emu.running_session(SSE_LENS_ID)
    cursor, pidfile = tmp_path / "c.json", tmp_path / "child.pid"
    env = subprocess_env(emu, XDG_CONFIG_HOME=str(tmp_path))
    tail = subprocess.Popen([sys.executable, "-m", "atai_cli", "tail", sid, "--cursor-file", str(cursor), "--exec",
                             f"echo $$ > {pidfile}; sleep 60"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    emu.wait_for_reader(sid)
    with emu.api() as api:
        api.session_event(sid, "input_stream.set", CSV_INPUT)
    emu.wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), timeout=30)
    os.killpg(tail.pid, signal.SIGINT)  # what Ctrl-C at the terminal does: the whole group
    assert tail.wait(timeout=30) == 130
    stderr = tail.stderr.read()
    assert "exec terminated at exit" in stderr and "exited -2" not in stderr
    # The first event was not handled: the cursor stays just before it (pinned when it arrived).
    assert json.loads(cursor.read_text())[sid]["last_event_id"] == "0"


@pytest.mark.parametrize("url", ["http://[::1/", "http://127.0.0.1:99999/", "http://127.0.0.1:abc/"])
def test_bad_forward_urls_are_usage_errors(url):
    with pytest.raises(UsageError):
        check_forward_url(url)


def test_server_data_in_headers_is_made_safe():
    assert header_value("inference.résult\nX-Evil: 1") == "inference.r%C3%A9sult%0AX-Evil: 1"
    assert header_value("lsn-26120100") == "lsn-26120100"


def test_exec_with_a_large_line_and_a_command_that_ignores_stdin(emu):
    emu.configure(idle_timeout_s=0)
    sid = emu.running_session(MAILBOX_LENS_ID)
    with emu.api() as api:
        api.session_event(sid, "input_stream.set", {"stream_type": "synthetic_reader",
                                                    "stream_config": {"count": 2, "rate_hz": 50, "payload_bytes": 300_000}})
    result = run_cli("tail", sid, "--exec", "true", "--max-events", "2", "--client-id", "big", "--timeout", "30")
    assert result.exit_code == 0, result.stderr


def test_exec_and_forward_carry_the_mailbox_position_as_the_event_id(emu, tmp_path):
    mailbox = emu.running_session(MAILBOX_LENS_ID)
    emu.push(mailbox, [1, 0, 1])
    with Receiver() as receiver:
        result = run_cli("tail", mailbox, "--max-events", "3", "--exec", f'echo "$ATAI_EVENT_ID" >> {tmp_path}/ids',
                         "--forward-to", receiver.url(), "--forward-secret", SECRET)
        headers = [r.headers["Atai-Event-Id"] for r in receiver.delivered()]
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "ids").read_text().split() == headers == ["1", "2", "3"]


def test_a_rejected_event_is_passed_and_not_sent_again_after_a_restart(emu, tmp_path):
    emu.configure(idle_timeout_s=0)
    mailbox = emu.running_session(MAILBOX_LENS_ID)
    emu.push(mailbox, [1, 0, 1, 0])
    cursor = tmp_path / "c.json"
    with Receiver(Script(reject={"2"})) as receiver:
        first = run_cli("tail", mailbox, "--max-events", "4", "--cursor-file", str(cursor),
                        "--forward-to", receiver.url(), "--forward-secret", SECRET)
        delivered = [r.headers["Atai-Event-Id"] for r in receiver.delivered()]
    assert first.exit_code == 1 and "rejected" in first.stderr
    assert delivered == ["1", "3", "4"] and json.loads(cursor.read_text())[mailbox]["last_event_id"] == "4"
    emu.push(mailbox, [1])
    with Receiver() as receiver:
        again = run_cli("tail", mailbox, "--max-events", "1", "--cursor-file", str(cursor),
                        "--forward-to", receiver.url(), "--forward-secret", SECRET)
        assert [r.headers["Atai-Event-Id"] for r in receiver.delivered()] == ["5"]
    assert again.exit_code == 0, again.stderr
