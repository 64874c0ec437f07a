"""Every rough edge a new user hit in the first hour (issue 13), each reproduced first."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from atai_cli.emulator.catalog import CAMERA_LENS_ID, MAILBOX_LENS_ID, SSE_LENS_ID
from atai_cli.emulator.server import EmulatorServer
from atai_cli.emulator.tuning import EmulatorConfig
from conftest import FAST, SAMPLE_CSV, atai_process, run_cli, wait_until
from receiver import free_port

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


# -- 2. a tail whose server is gone --------------------------------------------------------
def own_emulator(port: int, key: str) -> EmulatorServer:
    return EmulatorServer(port=port, api_key=key, config=EmulatorConfig(**{**FAST, "idle_timeout_s": 0})).start()


def tail_against(server: EmulatorServer, *args: str, tmp_path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATAI_")}
    env.update(ATAI_API_ENDPOINT=server.endpoint, ATAI_API_KEY=server.api_key, ATAI_RETRY_DELAY="0.01",
               ATAI_RECONNECT_DELAY="0.05", XDG_CONFIG_HOME=str(tmp_path), PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "atai_cli", "tail", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def read_until(stream, needle: str, timeout: float = 30.0) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen += line
    assert needle in seen, seen
    return seen


def tail_whose_server_goes(lens: str, *args: str, tmp_path) -> tuple[subprocess.Popen, str, int, str]:
    """A tail of a session on an emulator of its own, which is then stopped."""
    from atai_cli.client.api import LensApi

    port, key = free_port(), "atai-emu-" + os.urandom(4).hex()
    server = own_emulator(port, key)
    try:
        with LensApi.connect(server.endpoint, server.api_key) as api:
            sid = api.create_session(lens)["session_id"]
            api.wait_running(sid, 10)
        tail = tail_against(server, sid, *args, tmp_path=tmp_path)
        read_until(tail.stderr, "following")
        session = server.state.sessions[sid]
        wait_until(lambda: session.readers or session.num_active_connections)  # connected, then the server goes
    finally:
        server.stop()
    return tail, sid, port, key


@pytest.mark.parametrize("lens", [SSE_LENS_ID, MAILBOX_LENS_ID])
def test_a_server_that_is_gone_is_said_on_stderr_and_a_server_back_without_the_session_is_exit_4(tmp_path, lens):
    tail, sid, port, key = tail_whose_server_goes(lens, "--client-id", "gone", tmp_path=tmp_path)
    seen = read_until(tail.stderr, "reconnecting in")
    assert "connection refused" in seen or "closed the connection" in seen
    server = own_emulator(port, key)  # back, but without the session
    try:
        out, err = tail.communicate(timeout=60)
    finally:
        server.stop()
    assert tail.returncode == 4, seen + err
    assert f"session {sid} vanished" in err


def test_give_up_after_ends_with_exit_1_and_the_resume_hint(tmp_path):
    tail, sid, _, _ = tail_whose_server_goes(SSE_LENS_ID, "--give-up-after", "1", tmp_path=tmp_path)
    out, err = tail.communicate(timeout=60)
    assert tail.returncode == 1, err
    assert "gave up reconnecting after 1s" in err and f"resume with: atai tail {sid}" in err


def test_reconnect_give_up_is_a_setting_too(cli, emu):
    assert cli("config", "set", "reconnect_give_up", "30").exit_code == 0
    shown = {r["setting"]: r for r in json.loads(cli("config", "show", "--json").stdout)["settings"]}
    assert shown["reconnect_give_up"]["value"] == 30.0


# -- 3. one event shape on both channels -----------------------------------------------------
def test_meta_lines_have_the_same_shape_on_both_channels(cli, emu):
    emu.configure(idle_timeout_s=0.5)
    mailbox, sse = emu.running_session(MAILBOX_LENS_ID), emu.running_session(SSE_LENS_ID)
    with emu.api() as api:
        api.session_event(mailbox, "session.update", {"type": "data.json", "event_data": {"sensor_data": [[1]]}})
    read = json.loads(cli("tail", mailbox, "--meta", "--max-events", "1", "--client-id", "shape").lines[0])

    def push() -> None:
        emu.wait_for_reader(sse)
        with emu.api() as api:
            api.session_event(sse, "session.update", {"type": "data.json", "event_data": {"sensor_data": [[1]]}})

    import threading

    threading.Thread(target=push, daemon=True).start()
    over_sse = json.loads(cli("tail", sse, "--meta", "--max-events", "1").lines[0])
    for line in (read, over_sse):
        assert line["type"] == "inference.result" and line["payload"]["response"][0] == "active"
        assert isinstance(line["timestamp"], float) or line["timestamp"] is None
    assert read["payload"] == read["data"]["data"] and over_sse["payload"] == over_sse["data"]["event_data"]


# -- 4 and 5. atai run's closing words -----------------------------------------------------
def test_run_says_it_destroyed_the_session_and_suggests_keep(emu):
    emu.configure(idle_timeout_s=0, output_interval_s=0.2)
    proc = atai_process(emu, "run", SSE_LENS_ID, "--csv", str(SAMPLE_CSV))
    assert json.loads(proc.stdout.readline())
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    stderr = proc.stderr.read()
    assert "--since" not in stderr and "run it with --keep" in stderr


def test_run_with_a_file_stops_when_its_results_stop_coming(cli, emu):
    emu.configure(idle_timeout_s=0)  # the server never ends the stream itself
    result = cli("run", SSE_LENS_ID, "--csv", str(SAMPLE_CSV), "--idle-exit", "0.5")
    assert result.exit_code == 0, result.stderr
    assert len(result.lines) == 6 and "no lens output for 0.5s (--idle-exit)" in result.stderr
    assert "default 10 for a file input" in cli("run", "--help").stdout


def test_tail_idle_exit_ignores_heartbeats(cli, emu):
    emu.configure(idle_timeout_s=0, heartbeat_s=0.05)
    sid = emu.running_session(SSE_LENS_ID)
    result = cli("tail", sid, "--idle-exit", "0.5")
    assert result.exit_code == 0 and "--idle-exit" in result.stderr


# -- 6. the CLI reports the emulator's refusal of bad reader settings ------------------------
@pytest.mark.parametrize("setting", ["window_size=abc", "window_size=0"])
def test_bad_reader_settings_are_refused_with_the_reason(cli, emu, setting):
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    sid = emu.running_session(SSE_LENS_ID)
    result = cli("stream", "set", sid, "--type", "csv_file_reader", "--file-id", "sample.csv", "--set", setting)
    assert result.exit_code == 2 and "window_size must be a positive integer" in result.stderr  # refused before sending
    via_json = cli("stream", "set", sid, "--type", "csv_file_reader", "--config-json", '{"file_id": "sample.csv", "window_size": -1}')
    assert via_json.exit_code == 2


def test_a_server_rejection_is_exit_1(cli, emu):
    sid = emu.running_session(SSE_LENS_ID)
    result = cli("stream", "set", sid, "--type", "kafka_reader", "--set", 'topic_ids=["t"]')  # the emulator has no Kafka
    assert result.exit_code == 1 and "input_stream.set rejected" in result.stderr


# -- 7. binary input -----------------------------------------------------------------------
def test_binary_files_are_refused_with_what_was_expected(cli, emu, tmp_path):
    image = tmp_path / "frame.png"
    image.write_bytes(PNG)
    sid = emu.running_session(CAMERA_LENS_ID)
    for args, expected in (
        (["lens", "register", str(image)], "is not a YAML or JSON document"),
        (["lens", "modify", "lns-x", str(image)], "is not a YAML or JSON document"),
        (["stream", "push", sid, str(image)], "is not a JSON lines file"),
        (["stream", "push", sid, str(image), "--format", "csv"], "is not a CSV file"),
        (["run", SSE_LENS_ID, "--csv", str(image)], "is not a CSV file"),
    ):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert str(image) in result.stderr and expected in result.stderr and "Traceback" not in result.stderr
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    query = cli("query", sid, "--image", str(text))
    assert query.exit_code == 2 and "is not a JPEG or PNG image" in query.stderr
    assert cli("query", sid, "--image", str(image)).exit_code == 0


# -- 8. lens modify is a deep merge --------------------------------------------------------
def test_lens_modify_deep_merges_into_lens_config_and_says_what_changed(cli, emu, tmp_path):
    lens_id = cli("lens", "clone", SSE_LENS_ID, "-q").stdout.strip()
    before = json.loads(cli("lens", "show", lens_id, "--json").stdout)["lens_config"]
    changes = tmp_path / "changes.yaml"
    changes.write_text("model_parameters:\n  window_size: 20\n")
    result = cli("lens", "modify", lens_id, str(changes))
    assert result.exit_code == 0, result.stderr
    assert "model_parameters.window_size 10 -> 20" in result.stderr
    after = json.loads(cli("lens", "show", lens_id, "--json").stdout)["lens_config"]
    assert after["model_parameters"]["window_size"] == 20 and "model_parameters" not in after["model_parameters"]
    assert after["model_parameters"]["step_size"] == before["model_parameters"]["step_size"]  # merged, not replaced
    changes.write_text("lens_config:\n  model_parameters:\n    step_size: 5\n")
    assert cli("lens", "modify", lens_id, str(changes)).exit_code == 0
    merged = json.loads(cli("lens", "show", lens_id, "--json").stdout)["lens_config"]
    assert merged["model_parameters"]["window_size"] == 20 and merged["model_parameters"]["step_size"] == 5
    assert merged["output_streams"] == before["output_streams"] and merged["model_pipeline"] == before["model_pipeline"]
    assert "deep-merged" in cli("lens", "modify", "--help").stdout


# -- 10. hints that point the right way ----------------------------------------------------
def test_hints_point_the_right_way(cli, emu):
    unknown_lens = cli("session", "create", "lns-nope")
    assert unknown_lens.exit_code == 4 and "atai lens list" in unknown_lens.stderr
    sid = emu.running_session(SSE_LENS_ID)
    already = cli("stream", "output", sid)
    assert already.exit_code == 0 and "already writes to the SSE consumer" in already.stderr
    assert cli("session", "destroy", sid).exit_code == 0
    status = cli("session", "status", sid)
    assert status.exit_code == 4 and f"session {sid} was destroyed" in status.stderr
    assert status.stderr.count(sid) == 1
    tail = cli("tail", sid)
    assert tail.exit_code == 0 and "already destroyed" in tail.stderr


def test_tail_channel_sse_on_a_mailbox_lens_warns(cli, emu):
    sid = emu.running_session(MAILBOX_LENS_ID)
    result = cli("tail", sid, "--channel", "sse", "--timeout", "0.5")
    assert "has no SSE writer" in result.stderr


def test_query_on_a_lens_that_does_not_answer_warns_and_times_out_with_the_seconds(cli, emu, tmp_path):
    emu.configure(query_timeout_s=30)
    image = tmp_path / "frame.png"
    image.write_bytes(PNG)
    sid = emu.running_session(SSE_LENS_ID)
    result = cli("query", sid, "--image", str(image), "--timeout", "1")
    assert result.exit_code == 5
    assert "has no model-query processor" in result.stderr and "timed out after 1s" in result.stderr


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


# -- 11 and 12. looks and words ------------------------------------------------------------
def test_session_list_in_a_pipe_can_be_grepped(emu):
    for _ in range(3):
        emu.running_session(SSE_LENS_ID)
    listing = subprocess.run(f"{sys.executable} -m atai_cli session list | grep -c RUNNING", shell=True,
                             capture_output=True, text=True, env=os.environ)
    assert listing.stdout.strip() == "3"
    result = run_cli("session", "list")
    header, *rows = result.stdout.splitlines()
    assert header.split("\t")[:3] == ["SESSION ID", "LENS ID", "STATUS"]
    assert all(len(row.split("\t")) == len(header.split("\t")) for row in rows)
    import re

    assert re.fullmatch(r"\d+(\.\d)?s|\d+m\d\ds", rows[0].split("\t")[3])  # AGE is a duration, not 1.234567


def test_lens_show_prints_the_config_as_yaml(cli, emu):
    result = cli("lens", "show", SSE_LENS_ID, tty=True)
    assert "model_pipeline:" in result.stdout and "- processor_name: lens_timeseries_state_processor" in result.stdout


def test_plurals(cli, emu):
    emu.configure(idle_timeout_s=0.3)
    sid = emu.running_session(SSE_LENS_ID)
    one = cli("tail", sid, "--max-events", "1", "--envelope")
    assert "after 1 event " in one.stderr or one.stderr.rstrip().endswith("1 event (--max-events)")
    assert "1 events" not in one.stderr
