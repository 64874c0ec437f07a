"""Every command except tail and emulator, in human and --json modes, against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from atai_cli.emulator.catalog import CAMERA_LENS_ID, MAILBOX_LENS_ID, SSE_LENS_ID
from conftest import SAMPLE_CSV, run_cli


def as_json(result):
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# -- lens -----------------------------------------------------------------------------------
def test_lens_list(cli, emu):
    human = cli("lens", "list")
    assert human.exit_code == 0 and SSE_LENS_ID in human.stdout and "CHANNEL" in human.stdout
    lenses = {l["lens_id"]: l for l in as_json(cli("lens", "list", "--json"))}
    assert lenses[SSE_LENS_ID]["output_channel"] == "sse"
    assert lenses[MAILBOX_LENS_ID]["output_channel"] == "read"


def test_lens_show_says_which_channel_and_why(cli, emu):
    human = cli("lens", "show", SSE_LENS_ID)
    assert "sse" in human.stdout and "server_sent_events_writer" in human.stdout
    shown = as_json(cli("lens", "show", MAILBOX_LENS_ID, "--json"))
    assert shown["output_channel"] == "read" and "no server_sent_events_writer" in shown["output_channel_reason"]


@pytest.mark.parametrize("document", [
    "lens_name: Pump monitor\nlens_config:\n  model_pipeline:\n    - processor_name: lens_timeseries_state_processor\n  output_streams:\n    - stream_type: server_sent_events_writer\n",
    '{"lens_config": {"lens_name": "Pump monitor", "output_streams": [{"stream_type": "server_sent_events_writer"}]}}',
])
def test_lens_register_from_file_and_stdin(cli, emu, tmp_path, document):
    path = tmp_path / "lens.yaml"
    path.write_text(document)
    lens_id = cli("lens", "register", str(path), "-q").stdout.strip()
    assert lens_id.startswith("lns-pump-monitor-")
    assert as_json(cli("lens", "show", lens_id, "--json"))["output_channel"] == "sse"
    from_stdin = cli("lens", "register", "-", "--json", input=document)
    assert as_json(from_stdin)["lens_name"] == "Pump monitor"


def test_lens_clone_modify_delete(cli, emu, tmp_path):
    clone_id = cli("lens", "clone", CAMERA_LENS_ID, "-q").stdout.strip()
    changes = tmp_path / "changes.json"
    changes.write_text('{"focus": "forklifts"}')
    modified = as_json(cli("lens", "modify", clone_id, str(changes), "--json"))
    assert modified["lens_config"]["model_parameters"]["focus"] == "forklifts"
    assert cli("lens", "delete", clone_id).exit_code == 0
    assert cli("lens", "show", clone_id).exit_code == 4


def test_lens_errors(cli, emu, tmp_path):
    assert cli("lens", "show", "lns-nope").exit_code == 4
    assert cli("lens", "register", str(tmp_path / "missing.yaml")).exit_code == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    result = cli("lens", "register", str(bad))
    assert result.exit_code == 2 and "mapping" in result.stderr
    builtin = cli("lens", "modify", SSE_LENS_ID, str(bad))
    assert builtin.exit_code == 2
    changes = tmp_path / "c.json"
    changes.write_text('{"focus": "x"}')
    refused = cli("lens", "delete", SSE_LENS_ID)
    assert refused.exit_code == 1 and "409" in refused.stderr


# -- session --------------------------------------------------------------------------------
def test_session_create_quiet_waits_for_running(cli, emu):
    result = cli("session", "create", SSE_LENS_ID, "-q")
    assert result.exit_code == 0
    session_id = result.stdout.strip()
    assert session_id.startswith("lsn-") and "\n" not in session_id
    assert emu.session(session_id).status == "SESSION_STATUS_RUNNING"


def test_session_create_json_and_human(cli, emu):
    record = as_json(cli("session", "create", SSE_LENS_ID, "--json"))
    assert record["session_status"] == "SESSION_STATUS_RUNNING" and record["api_key"] == "***"
    human = cli("session", "create", SSE_LENS_ID)
    assert "SESSION_STATUS_RUNNING" in human.stdout and "atai tail" in human.stderr


def test_session_create_no_wait(cli, emu):
    emu.configure(start_delay_s=5)
    record = as_json(cli("session", "create", SSE_LENS_ID, "--no-wait", "--json"))
    assert record["session_status"] == "SESSION_STATUS_REGISTERED"


def test_session_create_timeout_exits_5(cli, emu):
    emu.configure(start_delay_s=5)
    result = cli("session", "create", SSE_LENS_ID, "--timeout", "0.3")
    assert result.exit_code == 5 and "REGISTERED" in result.stderr and "atai session destroy" in result.stderr


def test_session_create_failed_exits_1_with_reason(cli, emu):
    emu.configure(fail_sessions=True)
    result = cli("session", "create", SSE_LENS_ID)
    assert result.exit_code == 1 and "FAILED" in result.stderr and "session_runner" in result.stderr


def test_session_list_status_validate_destroy(cli, emu):
    session_id = emu.running_session(SSE_LENS_ID)
    assert session_id in cli("session", "list").stdout
    listed = as_json(cli("session", "list", "--json"))
    assert any(s["session_id"] == session_id and s["session_status"] == "SESSION_STATUS_RUNNING" for s in listed)
    status = as_json(cli("session", "status", session_id, "--json"))
    assert status["session_status"] == "SESSION_STATUS_RUNNING" and status["api_key"] == "***"
    human = cli("session", "status", session_id)
    assert "SESSION_STATUS_RUNNING" in human.stdout and "LensSessionStatus" not in human.stdout
    assert cli("session", "validate", session_id).stdout.strip() == "valid"
    assert as_json(cli("session", "validate", session_id, "--json")) == {"is_valid": True, "error_messages": []}
    destroyed = as_json(cli("session", "destroy", session_id, "--json"))
    assert destroyed[0]["session_status"] == "SESSION_STATUS_DESTROYED"


def test_session_validate_not_valid_exits_1(cli, emu):
    # A fresh REGISTERED session with a valid config is valid (issue 8); a destroyed one is not.
    session_id = emu.running_session(SSE_LENS_ID)
    assert cli("session", "destroy", session_id).exit_code == 0
    result = cli("session", "validate", session_id)
    assert result.exit_code == 1 and "was destroyed" in result.stderr


def test_session_destroy_several(cli, emu):
    first, second = emu.running_session(SSE_LENS_ID), emu.running_session(MAILBOX_LENS_ID)
    result = cli("session", "destroy", first, second)
    assert result.exit_code == 0 and first in result.stderr and second in result.stderr
    partial = cli("session", "destroy", "lsn-nope", emu.running_session(SSE_LENS_ID))
    assert partial.exit_code == 4 and "1 of 2" in partial.stderr


def test_session_modify(cli, emu):
    session_id = emu.running_session(CAMERA_LENS_ID)
    result = cli("session", "modify", session_id, "--set", "focus=forklifts", "--set", "max_new_tokens=128",
                 "--config-json", '{"instruction": "Count them"}')
    assert result.exit_code == 0
    params = emu.session(session_id).lens_config["model_parameters"]
    assert params["focus"] == "forklifts" and params["max_new_tokens"] == 128 and params["instruction"] == "Count them"
    assert cli("session", "modify", session_id).exit_code == 2
    assert cli("session", "modify", session_id, "--set", "novalue").exit_code == 2
    assert cli("session", "modify", session_id, "--config-json", "[1]").exit_code == 2


# -- stream ---------------------------------------------------------------------------------
def test_stream_set_csv(cli, emu):
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    session_id = emu.running_session(MAILBOX_LENS_ID)
    result = cli("stream", "set", session_id, "--type", "csv_file_reader", "--file-id", "sample.csv", "--set", "window_size=20", "--set", "step_size=20")
    assert result.exit_code == 0
    emu.wait_for(lambda: len(emu.session(session_id).mail) == 3)


def test_stream_set_json(cli, emu):
    session_id = emu.running_session(CAMERA_LENS_ID)
    reply = as_json(cli("stream", "set", session_id, "--type", "rtsp_video_reader", "--rtsp-url", "rtsp://cam/1", "--size", "360x640", "--fps", "0.2", "--json"))
    assert reply == {"is_valid": True, "error_messages": []}


@pytest.mark.parametrize("args,needle", [
    (["--type", "rtsp_video_reader"], "--rtsp-url"),
    (["--type", "rtsp_video_reader", "--rtsp-url", "http://cam"], "rtsp://"),
    (["--type", "rtsp_video_reader", "--rtsp-url", "rtsp://cam", "--size", "big"], "HEIGHTxWIDTH"),
    (["--type", "rtsp_video_reader", "--rtsp-url", "rtsp://cam", "--fps", "0"], "--fps"),
    (["--type", "csv_file_reader"], "--file-id"),
    (["--type", "csv_file_reader", "--file-id", "x", "--config-json", "{nope"], "not valid JSON"),
])
def test_stream_set_rejects_bad_config_before_sending(cli, emu, args, needle):
    result = cli("stream", "set", "lsn-never-contacted", *args)
    assert result.exit_code == 2 and needle in result.stderr


def test_stream_set_unknown_file_exits_4(cli, emu):
    session_id = emu.running_session(SSE_LENS_ID)
    result = cli("stream", "set", session_id, "--type", "csv_file_reader", "--file-id", "nope.csv")
    assert result.exit_code == 4 and "Input stream is unhealthy!" in result.stderr


def test_stream_output_attaches_sse_writer(cli, emu):
    session_id = emu.running_session(CAMERA_LENS_ID)
    assert as_json(cli("session", "status", session_id, "--json"))["lens_config"].get("output_streams") is None
    assert cli("stream", "output", session_id).exit_code == 0
    streams = as_json(cli("session", "status", session_id, "--json"))["lens_config"]["output_streams"]
    assert streams == [{"stream_type": "server_sent_events_writer", "stream_config": {}}]
    unknown = cli("stream", "output", session_id, "--type", "nonsense")
    assert unknown.exit_code == 2 and "server_sent_events_writer" in unknown.stderr  # the choices, before sending


# -- query ----------------------------------------------------------------------------------
def test_query_prints_the_answer(cli, emu, tmp_path):
    image = tmp_path / "frame.jpg"
    image.write_bytes(b"\xff\xd8\xffjpeg bytes")
    session_id = emu.running_session(CAMERA_LENS_ID)
    result = cli("query", session_id, "--image", str(image), "--focus", "cars", "--instruction", "Count them")
    assert result.exit_code == 0 and result.stdout.startswith("An image of 13 bytes") and "Focus: cars" in result.stdout
    reply = as_json(cli("query", session_id, "--image", str(image), "--template", "image_bbox", "--json"))
    assert json.loads(reply["response"][0])[0]["label"] == "object"


def test_query_server_timeout_exits_5(cli, emu, tmp_path):
    emu.configure(query_timeout_s=0.2)
    image = tmp_path / "frame.jpg"
    image.write_bytes(b"\xff\xd8\xff")
    session_id = emu.running_session(SSE_LENS_ID)  # not a query lens: the server times out
    result = cli("query", session_id, "--image", str(image))
    assert result.exit_code == 5 and "Response timed out for query" in result.stderr


def test_query_client_timeout_exits_5(cli, emu, tmp_path):
    emu.configure(query_delay_s=5, query_timeout_s=10)
    image = tmp_path / "frame.jpg"
    image.write_bytes(b"\xff\xd8\xff")
    session_id = emu.running_session(CAMERA_LENS_ID)
    assert cli("query", session_id, "--image", str(image), "--timeout", "1").exit_code == 5


def test_query_missing_image_exits_2(cli, emu, tmp_path):
    result = cli("query", "lsn-x", "--image", str(tmp_path / "nope.jpg"))
    assert result.exit_code == 2 and "no such image file" in result.stderr


# -- read -----------------------------------------------------------------------------------
def test_read_uses_a_stable_client_id(cli, emu):
    session_id = emu.running_session(MAILBOX_LENS_ID)
    with emu.api() as api:
        for n in range(2):
            api.session_event(session_id, "session.update", {"type": "data.json", "event_data": {"sensor_data": [[n]]}})
    first = cli("read", session_id)
    assert first.exit_code == 0 and len(first.lines) == 2
    assert [json.loads(l)["data"]["channel_means"] for l in first.lines] == [[0.0], [1.0]]
    again = cli("read", session_id)
    assert again.lines == [] and "no new messages" in again.stderr
    other = cli("read", session_id, "--client-id", "someone-else", "--json")
    assert len(other.lines) == 2


# -- files ----------------------------------------------------------------------------------
def test_files_upload_list_delete(cli, emu, tmp_path):
    path = tmp_path / "readings.csv"
    path.write_text("t,a\n1,2\n")
    uploaded = cli("files", "upload", str(path))
    assert uploaded.exit_code == 0 and uploaded.stdout.strip() == "readings.csv"
    assert "readings.csv" in cli("files", "list").stdout
    listed = as_json(cli("files", "list", "--json"))
    assert any(f["file_id"] == "readings.csv" and f["num_bytes"] == 8 for f in listed)
    assert as_json(cli("files", "upload", str(path), "--json"))["file_id"] == "readings.csv"
    assert cli("files", "delete", "readings.csv").exit_code == 0
    assert cli("files", "delete", "readings.csv").exit_code == 4
    assert cli("files", "upload", str(tmp_path / "missing.csv")).exit_code == 2


# -- cross-cutting errors -------------------------------------------------------------------
def test_wrong_key_exits_3(cli, emu):
    result = cli("--api-key", "wrong", "lens", "list")
    assert result.exit_code == 3 and "401" in result.stderr and "ATAI_API_KEY" in result.stderr


def test_missing_key_exits_3(cli, emu, monkeypatch):
    monkeypatch.delenv("ATAI_API_KEY")
    result = cli("session", "list")
    assert result.exit_code == 3 and "no API key" in result.stderr


def test_unknown_session_exits_4(cli, emu):
    result = cli("session", "status", "lsn-nope")
    assert result.exit_code == 4 and "atai session list" in result.stderr


def test_server_errors_after_retries_exit_1(cli, emu, monkeypatch):
    monkeypatch.setenv("ATAI_MAX_RETRIES", "2")
    emu.configure(fail_rate=1.0, fail_status=503)
    result = cli("session", "list")
    assert result.exit_code == 1 and "503" in result.stderr and "Traceback" not in result.stderr


def test_unreachable_endpoint_exits_1(cli, emu, monkeypatch):
    monkeypatch.setenv("ATAI_MAX_RETRIES", "0")
    result = cli("--endpoint", "http://127.0.0.1:1", "lens", "list")
    assert result.exit_code == 1 and "cannot reach" in result.stderr


def test_bad_flag_values_exit_2(cli, emu):
    assert cli("session", "create", SSE_LENS_ID, "--timeout", "soon").exit_code == 2
    assert cli("tail", "lsn-x", "--max-events", "0").exit_code == 2
    assert cli("no-such-command").exit_code == 2


def test_bad_setting_exits_2(cli, emu, monkeypatch):
    monkeypatch.setenv("ATAI_TIMEOUT", "soon")
    result = cli("session", "list")
    assert result.exit_code == 2 and "timeout" in result.stderr


def test_debug_shows_traffic_without_the_key(cli, emu):
    result = cli("--debug", "session", "create", SSE_LENS_ID, "--json")
    assert result.exit_code == 0
    assert "POST" in result.stderr and "lens/sessions/create" in result.stderr
    assert emu.api_key not in result.stderr + result.stdout


def test_debug_shows_traceback_on_failure(cli, emu):
    result = cli("--debug", "session", "status", "lsn-nope")
    assert result.exit_code == 4 and "Traceback" in result.stderr
    assert "Traceback" not in cli("session", "status", "lsn-nope").stderr


def test_version_and_help(cli):
    assert cli("--version").stdout.startswith("atai ")
    help_text = cli("--help").stdout
    for command in ("lens", "session", "stream", "query", "read", "tail", "files", "emulator"):
        assert command in help_text


def test_read_on_an_sse_session_points_to_tail(cli, emu):
    session_id = emu.running_session(SSE_LENS_ID)
    result = cli("read", session_id)
    assert result.exit_code == 0 and result.lines == [] and f"atai tail {session_id}" in result.stderr


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


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


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


def test_hints_point_the_right_way(cli, emu):
    unknown_lens = cli("session", "create", "lns-nope")
    assert unknown_lens.exit_code == 4 and "atai lens list" in unknown_lens.stderr
    sid = emu.running_session(SSE_LENS_ID)
    already = cli("stream", "output", sid)
    assert already.exit_code == 0 and "already writes to the SSE consumer" in already.stderr
    assert "not sent" not in already.stderr
    configured = cli("stream", "output", sid, "--set", "buffer=10")
    assert configured.exit_code == 0 and "--set/--config-json not sent" in configured.stderr
    assert cli("session", "destroy", sid).exit_code == 0
    status = cli("session", "status", sid)
    assert status.exit_code == 4 and f"session {sid} was destroyed" in status.stderr
    assert status.stderr.count(sid) == 1
    tail = cli("tail", sid)
    assert tail.exit_code == 0 and "already destroyed" in tail.stderr


def test_query_on_a_lens_that_does_not_answer_warns_and_times_out_with_the_seconds(cli, emu, tmp_path):
    emu.configure(query_timeout_s=30)
    image = tmp_path / "frame.png"
    image.write_bytes(PNG)
    sid = emu.running_session(SSE_LENS_ID)
    result = cli("query", sid, "--image", str(image), "--timeout", "1")
    assert result.exit_code == 5
    assert "has no model-query processor" in result.stderr and "timed out after 1s" in result.stderr


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


def test_read_without_a_session_endpoint_is_a_clear_protocol_error(cli, emu, monkeypatch):
    from atai_cli.client import api as api_module

    session_id = emu.running_session(MAILBOX_LENS_ID)
    original = api_module.LensApi.session_status
    monkeypatch.setattr(api_module.LensApi, "session_status",
                        lambda self, sid: {k: v for k, v in original(self, sid).items() if k != "session_endpoint"})
    result = cli("read", session_id)
    assert result.exit_code == 1 and "has no session_endpoint" in result.stderr
    assert "KeyError" not in result.stderr
