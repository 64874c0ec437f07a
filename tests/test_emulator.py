"""The emulator's REST surface and documented shapes (lens-api.md), over real HTTP."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from atai_cli.emulator.catalog import CAMERA_LENS_ID, MAILBOX_LENS_ID, SSE_LENS_ID
from conftest import event


def test_create_record_shape(http, emu):
    record = http.post("lens/sessions/create", content=b'{"lens_id": "lns-emulator-sse"}').json()  # no Content-Type, like the SDK
    assert record["session_id"].startswith("lsn-") and len(record["session_id"]) == 34
    assert record["session_status"] == "LensSessionStatus.SESSION_STATUS_REGISTERED"
    assert record["api_key"] == emu.api_key  # echoed, as the real API does
    assert record["session_endpoint"] == emu.endpoint.replace("http", "ws") + f"/lens/sessions/{record['session_id']}"
    for key in ("registration_timestamp", "session_start_timestamp", "num_outputs", "lens_config", "session_ttl_sec"):
        assert key in record
    emu.wait_for(lambda: event(http, record["session_id"], "session.status")["session_status"].endswith("RUNNING"))
    running = event(http, record["session_id"], "session.status")
    assert running["session_start_timestamp"] and running["num_updates"] == 1


@pytest.mark.parametrize("prefix", ["/v0.5", "/api", ""])
def test_every_prefix_serves_the_api(emu, prefix):
    base = emu.endpoint.rsplit("/v0.5", 1)[0] + prefix
    response = httpx.get(base + "/lens/metadata", headers={"Authorization": f"Bearer {emu.api_key}"}, params={"lens_id": "", "shard_index": -1})
    assert {l["lens_id"] for l in response.json()} >= {SSE_LENS_ID, MAILBOX_LENS_ID, CAMERA_LENS_ID}


def test_auth_errors(emu):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer: {emu.api_key}"}):
        response = httpx.get(emu.endpoint + "/lens/metadata", headers=headers)
        assert response.status_code == 401 and response.json()["errors"][0]["code"] in ("missing_api_key", "invalid_api_key")


def test_error_shapes(http):
    bad = http.post("lens/sessions/create", content=b"{oops")
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "invalid_json"
    missing = http.post("lens/sessions/create", json={"lens_id": "lns-nope"})
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "lens_not_found"
    assert http.post("lens/sessions/destroy", json={"session_id": "lsn-nope"}).status_code == 404
    assert http.get("lens/sessions/consumer/lsn-nope").status_code == 404
    builtin = http.post("lens/modify", json={"lens_id": SSE_LENS_ID, "focus": "x"})
    assert builtin.status_code == 409 and builtin.json()["errors"][0]["code"] == "lens_not_modifiable"


@pytest.mark.parametrize("body", [
    {"lens_config": {"lens_name": "Nested", "lens_config": {"model_pipeline": [{"processor_name": "lens_camera_processor"}]}}},
    {"lens_config": {"lens_name": "Flat", "model_pipeline": [{"processor_name": "lens_camera_processor"}]}},
])
def test_register_accepts_both_nestings(http, body):
    lens = http.post("lens/register", json=body).json()
    assert lens["lens_modifiable"] is True and lens["lens_status"] == "LENS_STATUS_REGISTERED"
    assert lens["lens_config"]["model_pipeline"] == [{"processor_config": {}, "processor_name": "lens_camera_processor"}]
    assert "lens_name" not in lens["lens_config"]


def test_register_defaults_to_noop_pipeline(http):
    lens = http.post("lens/register", json={"lens_config": {"lens_name": "My Test Lens"}}).json()
    assert lens["lens_config"]["model_pipeline"] == [{"processor_config": {}, "processor_name": "lens_noop_processor"}]


def test_metadata_lists_active_sessions_only(http, emu):
    session_id = emu.running_session(SSE_LENS_ID)
    listed = {s["session_id"]: s for s in http.get("lens/sessions/metadata").json()}
    assert listed[session_id]["session_status"] == "SESSION_STATUS_RUNNING"
    destroyed = http.post("lens/sessions/destroy", json={"session_id": session_id}).json()
    assert destroyed["session_status"] == "SESSION_STATUS_DESTROYED" and "session_duration_sec" in destroyed
    assert session_id not in {s["session_id"] for s in http.get("lens/sessions/metadata").json()}
    one = http.get("lens/sessions/metadata", params={"session_id": session_id}).json()
    assert one[0]["session_status"] == "SESSION_STATUS_DESTROYED"
    assert event(http, session_id, "session.status") == {"type": "error", "message": f"Unknown session id: {session_id}"}


def test_mailbox_cursor_per_client_id(http, emu):
    session_id = emu.running_session(MAILBOX_LENS_ID)
    for n in range(3):
        event(http, session_id, "session.update", {"type": "data.json", "event_data": {"sensor_data": [[n, n]]}})
    first = event(http, session_id, "session.read", {"client_id": "a"})
    assert [m["data"]["channel_means"] for m in first["event_data"]["messages"]] == [[0.0], [1.0], [2.0]]
    assert event(http, session_id, "session.read", {"client_id": "a"}) == {"type": "session.read.response", "event_data": None}
    assert len(event(http, session_id, "session.read", {"client_id": "b"})["event_data"]["messages"]) == 3


def test_output_stream_set_is_reflected_in_lens_config(http, emu):
    session_id = emu.running_session(CAMERA_LENS_ID)
    reply = event(http, session_id, "output_stream.set", {"stream_type": "server_side_events_writer", "stream_config": {}})
    assert reply["event_data"]["is_valid"] is True
    record = event(http, session_id, "session.status")
    assert {"stream_type": "server_side_events_writer", "stream_config": {}} in record["lens_config"]["output_streams"]


def test_input_stream_errors(http, emu):
    session_id = emu.running_session(SSE_LENS_ID)
    missing = event(http, session_id, "input_stream.set", {"stream_type": "csv_file_reader", "stream_config": {"file_id": "nope.csv"}})
    assert missing["event_data"]["is_valid"] is False and "Input stream is unhealthy!" in missing["event_data"]["error_messages"]
    unknown = event(http, session_id, "input_stream.set", {"stream_type": "carrier_pigeon", "stream_config": {}})
    assert unknown["event_data"]["is_valid"] is False
    assert event(http, session_id, "bogus.event") == {"type": "error", "message": "Unknown event type: bogus.event"}


def test_session_modify_and_get(http, emu):
    session_id = emu.running_session(CAMERA_LENS_ID)
    assert event(http, session_id, "session.modify", {"focus": "forklifts"})["event_data"]["is_valid"] is True
    assert event(http, session_id, "session.get")["event_data"]["focus"] == "forklifts"


def test_files_api(http, emu):
    upload = http.post("files", files={"file": ("data.csv", b"a,b\n1,2\n", "text/csv")}).json()
    assert upload["is_valid"] is True and upload["file_id"] == "data.csv" and len(upload["file_uid"]) == 22
    page = http.get("files/metadata").json()
    assert page["data"][0]["file_id"] == "data.csv" and page["has_more"] is False
    assert http.get("files/metadata/data.csv").json()["num_bytes"] == 8
    assert http.get("files/download/data.csv").content == b"a,b\n1,2\n"
    assert http.get("files/info").json()["num_files"] >= 1
    assert http.delete("files/delete/data.csv").json()["file_id"] == "data.csv"
    assert http.delete("files/delete/data.csv").status_code == 404


def test_info_endpoints(http):
    assert "num_lenses" in http.get("lens/info").json()
    assert "num_active_sessions" in http.get("lens/sessions/info").json()


def test_emulator_command_announces_endpoint_and_key(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "atai_cli", "emulator", "--port", "0", "--api-key", "k-123"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        endpoint_line = process.stdout.readline().strip()
        key_line = process.stdout.readline().strip()
        assert endpoint_line.startswith("ATAI_API_ENDPOINT=http://127.0.0.1:") and endpoint_line.endswith("/v0.5")
        assert key_line == "ATAI_API_KEY=k-123"
        endpoint = endpoint_line.split("=", 1)[1]
        deadline = time.monotonic() + 10
        while True:
            try:
                response = httpx.get(endpoint + "/lens/metadata", headers={"Authorization": "Bearer k-123"})
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        assert response.status_code == 200
    finally:
        process.terminate()
        process.wait(10)


def test_emulator_help_lists_lenses_and_flags():
    help_text = subprocess.run([sys.executable, "-m", "atai_cli", "emulator", "--help"], capture_output=True, text=True, env={"COLUMNS": "200", "PATH": ""}).stdout
    for needle in (SSE_LENS_ID, MAILBOX_LENS_ID, CAMERA_LENS_ID, "--port", "--api-key", "--heartbeat", "--drop-every", "--fail-rate"):
        assert needle in help_text


def test_the_admin_config_coerces_values_and_refuses_wrong_ones_whole(emu):
    assert emu.configure(retention="7", live_only="yes", fail_path=5)["retention"] == 7
    assert emu.configure()["live_only"] is True and emu.configure()["fail_path"] == "5"
    bad = emu.admin.post("/_emulator/config", json={"retention": "lots", "heartbeat_s": 9})
    assert bad.status_code == 400 and "retention" in bad.text
    assert emu.configure()["heartbeat_s"] != 9  # nothing of a refused change is applied
    unknown = emu.admin.post("/_emulator/config", json={"no_such_knob": 1})
    assert unknown.status_code == 400 and "no_such_knob" in unknown.text
