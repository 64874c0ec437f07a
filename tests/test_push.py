"""atai stream push: every window delivered, paced."""

from __future__ import annotations

import json
import signal

from atai_cli.client.push import Pacer
from atai_cli.emulator.catalog import MAILBOX_LENS_ID
from conftest import SAMPLE_CSV, atai_process


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def test_pacer_spaces_windows_and_never_bursts():
    fake = FakeClock()
    pacer = Pacer(4.0, fake.clock, fake.sleep)
    pacer.wait()  # the first goes at once
    pacer.wait()
    pacer.wait()
    assert fake.sleeps == [0.25, 0.25]
    fake.now += 10  # a stall: the next goes at once, and the schedule restarts from it
    pacer.wait()
    pacer.wait()
    assert fake.sleeps == [0.25, 0.25, 0.25]


def test_push_jsonl_file_delivers_every_window_paced(cli, emu, tmp_path):
    session_id = emu.running_session(MAILBOX_LENS_ID)
    source = tmp_path / "windows.jsonl"
    source.write_text("".join(json.dumps({"sensor_data": [[n, n + 1]]}) + "\n" for n in range(5)))
    result = cli("stream", "push", session_id, str(source), "--rate", "20", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"session_id": session_id, "sent": 5, "skipped": 0}
    mail = emu.session(session_id).mail
    assert [m["data"]["channel_means"] for m in mail] == [[n + 0.5] for n in range(5)]
    # Paced at 20/s, the 5th window cannot leave before 0.2 s after the 1st (minus the first
    # request's own transit time); an unpaced push of 5 windows takes a few milliseconds.
    assert mail[-1]["timestamp"] - mail[0]["timestamp"] >= 0.15


def test_push_csv_from_stdin_in_windows(cli, emu):
    session_id = emu.running_session(MAILBOX_LENS_ID)
    result = cli("stream", "push", session_id, "-", "--format", "csv", "--window", "20", "--rate", "100", input=SAMPLE_CSV.read_text())
    assert result.exit_code == 0, result.stderr
    assert "sent 3 windows" in result.stderr
    means = [m["data"]["channel_means"] for m in emu.session(session_id).mail]
    assert len(means) == 3 and len(means[0]) == 3  # vibration, temperature, current
    assert means[0][1] < means[1][1] < means[2][1]  # the machine heats up


def test_push_full_data_events_pass_through(cli, emu):
    session_id = emu.running_session(MAILBOX_LENS_ID)
    line = json.dumps({"type": "data.text", "event_data": {"contents": "hello"}})
    assert cli("stream", "push", session_id, "-", "--rate", "100", input=line + "\n").exit_code == 0
    assert emu.session(session_id).mail[0]["data"]["input_type"] == "data.text"


def test_push_skip_resumes(cli, emu, tmp_path):
    session_id = emu.running_session(MAILBOX_LENS_ID)
    source = tmp_path / "w.jsonl"
    source.write_text("".join(json.dumps({"sensor_data": [[n]]}) + "\n" for n in range(4)))
    assert cli("stream", "push", session_id, str(source), "--rate", "100", "--skip", "3").exit_code == 0
    assert [m["data"]["channel_means"] for m in emu.session(session_id).mail] == [[3.0]]


def test_push_bad_input(cli, emu, tmp_path):
    session_id = emu.running_session(MAILBOX_LENS_ID)
    bad = cli("stream", "push", session_id, "-", "--rate", "100", input='{"ok": 1}\nnot json\n')
    assert bad.exit_code == 2 and "line 2 is not JSON" in bad.stderr
    assert cli("stream", "push", session_id, str(tmp_path / "missing.jsonl")).exit_code == 2
    assert cli("stream", "push", session_id, "-", "--format", "xml", input="").exit_code == 2
    assert cli("stream", "push", "lsn-nope", "-", input="{}\n").exit_code == 4


def test_ctrl_c_during_push_says_how_to_skip(emu, tmp_path):
    sid = emu.running_session(MAILBOX_LENS_ID)
    data = tmp_path / "readings.jsonl"
    data.write_text("".join(json.dumps({"value": n}) + "\n" for n in range(100)))
    push = atai_process(emu, "stream", "push", sid, str(data), "--rate", "20")
    emu.wait_for(lambda: emu.session(sid).num_inputs >= 3)
    push.send_signal(signal.SIGINT)
    assert push.wait(timeout=30) == 130
    stderr = push.stderr.read()
    assert f"resume with: atai stream push {sid} {data} --skip " in stderr
