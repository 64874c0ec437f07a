"""The flows the SDK's examples need, checked piece by piece on the shared fast emulator, and the
same flows through atai's CLI: session.validate on a fresh session, declared streams that start
by themselves, sensor logs (files and pushes), n-shot classes, model latency, which SSE reader
gets what, the files API's two page shapes, and the public lenses."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import httpx
import pytest
import websocket

from atai_cli.emulator.catalog import ACTIVITY_MONITOR_ID, IMAGE_QA_ID, MACHINE_STATE_ID, MAILBOX_LENS_ID, SSE_LENS_ID, SESSION_EXAMPLE_ID
from atai_cli.emulator.processors import camera
from conftest import SAMPLE_CSV, event

SENSOR_LOGS = Path(__file__).resolve().parents[1] / "atai_cli" / "data" / "sensor_logs.jsonl"
KITCHEN = "Output an alert if a user enters the kitchen."


def register(http, pipeline="lens_sensor_logs_processor", params=None, inputs=None, sse=True) -> str:
    config = {"model_pipeline": [{"processor_name": pipeline}], "model_parameters": params or {}}
    if inputs is not None:
        config["input_streams"] = inputs
    if sse:
        config["output_streams"] = [{"stream_type": "server_sent_events_writer"}]
    reply = http.post("lens/register", json={"lens_config": {"lens_name": "flow lens", "lens_config": config}})
    assert reply.status_code == 200, reply.text
    return reply.json()["lens_id"]


def outputs(emu, session_id, type_="inference.result") -> list[dict]:
    """The session's SSE output events so far (from the emulator's own log)."""
    events = [json.loads(e.frame.split(b"data: ", 1)[1]) for e in list(emu.session(session_id).outputs.events)]
    return [e["event_data"] for e in events if e["type"] == type_]


def push_row(http, session_id, row) -> dict:
    return event(http, session_id, "session.update", {"type": "data.json", "event_data": row})


def sse_lines(emu, session_id, *, last_event_id=None) -> list[dict]:
    """Read the consumer until sse.stream.end: each frame's JSON but heartbeats."""
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    seen = []
    with httpx.stream("GET", f"{emu.endpoint}/lens/sessions/consumer/{session_id}", headers=headers, timeout=10) as response:
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            frame = json.loads(line[6:])
            if frame["type"] != "sse.stream.heartbeat":
                seen.append(frame)
            if seen and seen[-1]["type"] == "sse.stream.end":
                break
    return seen


# -- session.validate ---------------------------------------------------------------------
def test_validate_right_after_create_judges_the_config(http, emu):
    emu.configure(start_delay_s=5)  # stays REGISTERED for the whole test
    record = http.post("lens/sessions/create", json={"lens_id": SSE_LENS_ID}).json()
    assert record["session_status"].endswith("REGISTERED")
    assert event(http, record["session_id"], "session.validate") == {
        "type": "session.validate.response", "event_data": {"is_valid": True, "error_messages": []}}


def test_validate_reports_what_is_wrong(http, emu):
    lens_id = register(http, pipeline="lens_teleport_processor", inputs=[
        {"stream_type": "jsonl_file_reader", "stream_config": {"file_id": "never-uploaded.jsonl"}},
        {"stream_type": "csv_file_reader", "stream_config": {"file_id": "x.csv", "window_size": "abc"}},
        {"stream_type": "carrier_pigeon", "stream_config": {}},
    ])
    session_id = http.post("lens/sessions/create", json={"lens_id": lens_id}).json()["session_id"]
    reply = event(http, session_id, "session.validate")["event_data"]
    assert reply["is_valid"] is False
    text = "\n".join(reply["error_messages"])
    for needle in ("Unknown processor: lens_teleport_processor", "File not found: never-uploaded.jsonl",
                   "window_size must be a positive integer", "Unknown stream_type: 'carrier_pigeon'"):
        assert needle in text


def test_validate_a_destroyed_session(http, emu):
    session_id = emu.running_session(SSE_LENS_ID)
    http.post("lens/sessions/destroy", json={"session_id": session_id})
    reply = event(http, session_id, "session.validate")
    assert reply["event_data"]["is_valid"] is False and "was destroyed" in reply["event_data"]["error_messages"][0]


def test_bad_model_parameters_are_refused(http, emu):
    bad = http.post("lens/register", json={"lens_config": {"lens_name": "bad", "lens_config": {"model_parameters": {"sensor_buffer_size": 0}}}})
    assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == "invalid_model_parameter"
    assert bad.json()["is_valid"] is False and "sensor_buffer_size" in bad.json()["error_messages"][0]
    session_id = emu.running_session(register(http))
    reply = event(http, session_id, "session.modify", {"input_frame_step_size": -1})
    assert reply["event_data"]["is_valid"] is False and "invalid_model_parameter" in reply["event_data"]["error_messages"][0]


# -- declared streams ---------------------------------------------------------------------
def test_declared_input_starts_when_the_session_runs(http, emu):
    emu.upload("machine.csv", SAMPLE_CSV.read_bytes())
    lens_id = register(http, pipeline="lens_timeseries_state_processor",
                       inputs=[{"stream_type": "csv_file_reader", "stream_config": {"file_id": "machine.csv"}}])
    session_id = emu.running_session(lens_id)
    emu.wait_for(lambda: len(outputs(emu, session_id)) == 6)  # no input_stream.set was sent
    assert event(http, session_id, "session.status")["input_data_stream_id"] == "csv_file_reader:machine.csv"


def test_a_declared_input_that_cannot_start_says_so(http, emu):
    lens_id = register(http, inputs=[{"stream_type": "jsonl_file_reader", "stream_config": {"file_id": "gone.jsonl"}}])
    session_id = emu.running_session(lens_id)
    emu.wait_for(lambda: outputs(emu, session_id, "error"))
    assert outputs(emu, session_id, "error")[0]["message"] == "Input stream is unhealthy!"
    assert "File not found: gone.jsonl" in event(http, session_id, "session.validate")["event_data"]["error_messages"]


# -- sensor logs ----------------------------------------------------------------------------
def test_jsonl_file_buffers_alert_on_the_focus(http, emu):
    emu.upload("sensor_logs.jsonl", SENSOR_LOGS.read_bytes())
    lens_id = register(http, params={"focus": KITCHEN}, inputs=[
        {"stream_type": "jsonl_file_reader", "stream_config": {"file_id": "sensor_logs.jsonl"}}])
    session_id = emu.running_session(lens_id)
    emu.wait_for(lambda: len(outputs(emu, session_id)) == 8)  # 12 rows, buffers of 5, step 1
    results = outputs(emu, session_id)
    assert [r["query_metadata"]["query_metadata"]["read_index"] for r in results] == list(range(8))
    # the person walks into the kitchen at row 6: buffers 2-5 see it
    assert [bool(r["alerts"]) for r in results] == [False, False, True, True, True, True, False, False]
    assert results[2]["alerts"] == ["alert: location changed hallway -> kitchen (1 change)"]
    assert results[2]["response"][0].endswith("\nalert: location changed hallway -> kitchen (1 change)")
    assert "fridge_door changed closed -> open" in results[3]["response"][0]


def test_pushed_rows_fill_the_same_buffer(http, emu):
    session_id = emu.running_session(register(http, params={"sensor_buffer_size": 3, "input_buffer_step_size": 2,
                                                            "focus": "Alert when the value exceeds 5."}))
    for value in range(7):
        assert push_row(http, session_id, {"sensor_id": "s1", "value": value})["event_data"] == {"is_valid": True, "error_messages": []}
    results = outputs(emu, session_id)
    assert [r["query_metadata"]["query_metadata"]["read_index"] for r in results] == [0, 2, 4]
    assert results[0]["response"] == ["Rows 0-2: value changed 0 -> 2 (2 changes); steady: sensor_id\nalert: value changed 0 -> 2 (2 changes)"]


def test_sensor_windows_keep_one_result_each_on_every_lens(http, emu):
    """The channel-first windows `atai stream push` sends are not log rows."""
    session_id = emu.running_session(register(http))
    window = {"sensor_data": [[1.0, 3.0], [5.0, 7.0]], "sensor_metadata": {"sensor_id": "s"}}
    assert push_row(http, session_id, window)["event_data"]["is_valid"] is True
    assert outputs(emu, session_id)[0]["channel_means"] == [2.0, 6.0]


@pytest.mark.parametrize("content,code", [(b"\n\n", "empty_sensor_log_error"), (b'{"a": 1}\nnot json\n', "sensor_log_conversion_error")])
def test_bad_sensor_logs_are_refused(http, emu, content, code):
    emu.upload("bad.jsonl", content)
    session_id = emu.running_session(register(http))
    reply = event(http, session_id, "input_stream.set", {"stream_type": "jsonl_file_reader", "stream_config": {"file_id": "bad.jsonl"}})
    assert reply["event_data"]["is_valid"] is False and reply["event_data"]["error_messages"][0].startswith(code)


@pytest.mark.parametrize("data", [{"type": "data.xml", "event_data": {}}, {"type": "data.text", "event_data": {"contents": 5}},
                                  {"type": "data.json"}, {"type": "data.json", "event_data": {"sensor_data": "abc"}}])
def test_bad_pushes_are_refused(http, emu, data):
    session_id = emu.running_session(register(http))
    reply = event(http, session_id, "session.update", data)
    assert reply["type"] == "session.update.response" and reply["event_data"]["is_valid"] is False


def test_pushes_over_the_websocket(emu):
    session_id = emu.running_session(register(emu_http_client(emu), params={"sensor_buffer_size": 2}))
    socket = websocket.create_connection(f"{emu.endpoint.replace('http', 'ws', 1)}/lens/sessions/{session_id}",
                                         header=[f"Authorization: Bearer {emu.api_key}"])
    try:
        for value in (1, 2):
            socket.send_binary(json.dumps({"type": "session.update", "event_data": {"type": "data.json", "event_data": {"v": value}}}).encode())
            assert json.loads(socket.recv()) == {"type": "session.update.response", "event_data": {"is_valid": True, "error_messages": []}}
        socket.send("not json at all")
        assert json.loads(socket.recv())["type"] == "error"
        socket.send(json.dumps({"type": "input_stream.set", "event_data": {"stream_type": ["x"], "stream_config": 5}}))
        assert json.loads(socket.recv())["event_data"]["is_valid"] is False  # answered, and the socket stays open
    finally:
        socket.close()
    assert outputs(emu, session_id)[0]["response"] == ["Rows 0-1: v changed 1 -> 2 (1 change)"]


def emu_http_client(emu) -> httpx.Client:
    return httpx.Client(base_url=emu.endpoint + "/", headers={"Authorization": f"Bearer {emu.api_key}"})


# -- model latency and who gets the outputs -------------------------------------------------
def test_the_model_answers_one_input_at_a_time_after_its_latency(http, emu):
    emu.configure(model_latency_s=30)  # far longer than the test: nothing can be out yet
    session_id = emu.running_session(register(http, params={"sensor_buffer_size": 1}))
    for value in range(3):
        push_row(http, session_id, {"value": value})
    model = emu.session(session_id).model
    assert outputs(emu, session_id) == [] and model.current is not None and len(model.queue) == 2
    http.post("lens/sessions/destroy", json={"session_id": session_id})
    emu.wait_for(lambda: not model.busy)  # destroying the session stops the model; nothing comes out
    assert outputs(emu, session_id) == []

    emu.configure(model_latency_s=0.05)
    session_id = emu.running_session(register(http, params={"sensor_buffer_size": 1}))
    for value in range(3):
        push_row(http, session_id, {"value": value})
    emu.wait_for(lambda: len(outputs(emu, session_id)) == 3)
    assert [r["query_metadata"]["query_metadata"]["read_index"] for r in outputs(emu, session_id)] == [0, 1, 2]


def test_first_reader_gets_what_came_before_later_readers_are_live(http, emu):
    emu.configure(idle_timeout_s=0.3)
    session_id = emu.running_session(register(http, params={"sensor_buffer_size": 1}))
    for value in range(3):
        push_row(http, session_id, {"value": value})
    first = [e for e in sse_lines(emu, session_id) if e["type"] == "inference.result"]
    assert [e["event_data"]["query_metadata"]["query_metadata"]["read_index"] for e in first] == [0, 1, 2]
    second = sse_lines(emu, session_id)
    assert [e["type"] for e in second] == ["sse.stream.start", "sse.stream.end"]
    replay = sse_lines(emu, session_id, last_event_id=1)
    assert [e["event_data"]["query_metadata"]["query_metadata"]["read_index"] for e in replay if e["type"] == "inference.result"] == [1, 2]


def test_live_only_makes_the_first_reader_live_too(http, emu):
    emu.configure(idle_timeout_s=0.3, live_only=True)
    session_id = emu.running_session(register(http, params={"sensor_buffer_size": 1}))
    push_row(http, session_id, {"value": 1})
    assert [e["type"] for e in sse_lines(emu, session_id)] == ["sse.stream.start", "sse.stream.end"]


def test_a_reader_task_that_dies_says_so(http, emu, monkeypatch):
    async def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(camera, "run_rtsp", broken)
    session_id = emu.running_session(MAILBOX_LENS_ID)
    assert event(http, session_id, "input_stream.set", {"stream_type": "rtsp_video_reader", "stream_config": {"rtsp_url": "rtsp://cam/1"}})["event_data"]["is_valid"]
    emu.wait_for(lambda: emu.session(session_id).mail)
    message = emu.session(session_id).mail[0]
    assert message["type"] == "error" and message["data"]["code"] == "internal_logic_error"
    assert "simulated bug" in message["data"]["message"]


# -- files, video, CSV windows ----------------------------------------------------------------
def mp4(seconds: float) -> bytes:
    mvhd = struct.pack(">B3xIIII", 0, 0, 0, 1000, int(seconds * 1000)) + bytes(80)
    moov = struct.pack(">I4s", 8 + 8 + len(mvhd), b"moov") + struct.pack(">I4s", 8 + len(mvhd), b"mvhd") + mvhd
    return struct.pack(">I4s", 16, b"ftyp") + b"isom\x00\x00\x02\x00" + moov + bytes(1000)


def test_video_length_comes_from_the_mp4_header(http, emu):
    assert camera.mp4_duration(mp4(12)) == 12.0 and camera.mp4_duration(b"not a video") is None
    emu.upload("twelve.mp4", mp4(12))
    session_id = emu.running_session(register(http, pipeline="lens_camera_processor"))
    event(http, session_id, "input_stream.set", {"stream_type": "video_file_reader", "stream_config": {"file_id": "twelve.mp4"}})
    emu.wait_for(lambda: len(outputs(emu, session_id)) == 2)  # 12 frames at 1 Hz: buffers 0-4 and 5-9
    assert [r["query_metadata"]["sensor_timestamp"] for r in outputs(emu, session_id)] == ["00:00:00", "00:00:05"]
    empty = emu.upload("empty.mp4", b"")
    reply = event(http, session_id, "input_stream.set", {"stream_type": "video_file_reader", "stream_config": {"file_id": empty}})
    assert reply["event_data"]["error_messages"][0] == "Failed to load video"


def test_incomplete_last_window_is_kept_on_request(http, emu):
    emu.upload("odd.csv", b"t,a\n" + b"".join(f"{n},{n}\n".encode() for n in range(25)))
    session_id = emu.running_session(SSE_LENS_ID)
    event(http, session_id, "input_stream.set", {"stream_type": "csv_file_reader",
                                                 "stream_config": {"file_id": "odd.csv", "cut_off_incomplete_window": False}})
    emu.wait_for(lambda: len(outputs(emu, session_id)) == 3)
    assert [r["query_metadata"]["query_metadata"]["window_size"] for r in outputs(emu, session_id)] == [10, 10, 5]


def test_n_shot_needs_files_and_columns(http, emu):
    emu.upload("normal.csv", SAMPLE_CSV.read_bytes())
    session_id = emu.running_session(MACHINE_STATE_ID)
    for data, needle in (({"input_n_shot": {"NORMAL": "missing.csv"}}, "file not found: missing.csv"),
                         ({"input_n_shot": {"NORMAL": "normal.csv"}, "csv_configs": {"data_columns": ["pressure"]}}, "no column 'pressure'"),
                         ({"input_n_shot": ["normal.csv"]}, "input_n_shot must map"),
                         ({"input_n_shot": {"NORMAL": "normal.csv"}, "csv_configs": {"window_size": 0}}, "window_size")):
        reply = event(http, session_id, "session.modify", data)["event_data"]
        assert reply["is_valid"] is False and needle in "; ".join(reply["error_messages"]), reply


def test_files_metadata_both_page_shapes(http, emu):
    for name in ("a.csv", "b.csv", "c.csv"):
        emu.upload(name, b"x,y\n1,2\n")
    newest = [r["file_id"] for r in http.get("files/metadata", params={"shard_index": -1, "max_items_per_shard": -1}).json()]
    assert newest[:3] == ["c.csv", "b.csv", "a.csv"]
    shard = http.get("files/metadata", params={"shard_index": 1, "max_items_per_shard": 1}).json()
    assert isinstance(shard, list) and [r["file_id"] for r in shard] == ["b.csv"]
    page = http.get("files/metadata", params={"limit": 2}).json()
    assert [r["file_id"] for r in page["data"]] == ["c.csv", "b.csv"] and page["has_more"] is True and page["prev_cursor"] is None
    after = http.get("files/metadata", params={"limit": 1, "after": page["next_cursor"]}).json()
    assert [r["file_id"] for r in after["data"]] == ["a.csv"] and after["prev_cursor"] == after["data"][0]["file_uid"]
    before = http.get("files/metadata", params={"limit": 5, "before": after["data"][0]["file_uid"]}).json()
    assert [r["file_id"] for r in before["data"]] == ["c.csv", "b.csv"]
    assert http.get("files/metadata", params={"limit": 0}).status_code == 400
    assert http.get("files/metadata", params={"after": "nope"}).json()["errors"][0]["code"] == "invalid_cursor"
    info = http.get("files/info").json()
    assert set(info) == {"num_files", "num_bytes", "num_ingested", "last_updated"} and info["num_files"] >= 3


def test_public_lenses_have_the_documented_shape(http):
    lenses = {lens["lens_id"]: lens for lens in http.get("lens/metadata", params={"shard_index": -1, "max_items_per_shard": -1}).json()}
    for lens_id in (ACTIVITY_MONITOR_ID, SESSION_EXAMPLE_ID, IMAGE_QA_ID, MACHINE_STATE_ID):
        lens = lenses[lens_id]
        assert set(lens) == {"lens_id", "lens_name", "lens_status", "lens_modifiable", "lens_config"}
        assert lens["lens_modifiable"] is False and lens["lens_config"]["model_pipeline"][0]["processor_name"].startswith("lens_")
        assert isinstance(lens["lens_config"]["model_parameters"], dict)
    assert lenses[SESSION_EXAMPLE_ID]["lens_config"]["model_pipeline"][0]["processor_name"] == "lens_noop_processor"
    assert lenses[MACHINE_STATE_ID]["lens_config"]["model_pipeline"][0]["processor_name"] == "lens_timeseries_state_processor"
    qa = lenses[IMAGE_QA_ID]["lens_config"]["model_parameters"]
    assert {"model_version", "template_name", "instruction", "focus", "max_new_tokens"} <= set(qa)


# -- the same flows through atai's CLI ----------------------------------------------------------
def test_cli_run_activity_monitor_on_a_video(cli, emu, tmp_path):
    emu.configure(idle_timeout_s=0.3)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(4000))  # no movie header: counts as 20 s
    result = cli("run", ACTIVITY_MONITOR_ID, "--video", str(clip))
    assert result.exit_code == 0, result.stderr
    texts = [json.loads(line)["event_data"]["response"][0] for line in result.lines]
    assert [t.split(":")[0] for t in texts] == ["Frames 0-4 of clip.mp4", "Frames 5-9 of clip.mp4",
                                                "Frames 10-14 of clip.mp4", "Frames 15-19 of clip.mp4"]
    assert "attached server_sent_events_writer" in result.stderr  # the public lens declares no writer


def test_cli_push_sensor_logs_then_tail(cli, emu, tmp_path):
    lens_file = tmp_path / "lens.yaml"
    lens_file.write_text(f"lens_name: Kitchen watch\nlens_config:\n  model_pipeline:\n    - processor_name: lens_sensor_logs_processor\n"
                         f"  model_parameters:\n    focus: {KITCHEN}\n  output_streams:\n    - stream_type: server_sent_events_writer\n")
    lens_id = cli("lens", "register", str(lens_file), "-q").stdout.strip()
    session_id = cli("session", "create", lens_id, "-q").stdout.strip()
    pushed = cli("stream", "push", session_id, str(SENSOR_LOGS), "--rate", "200", "--json")
    assert json.loads(pushed.stdout) == {"session_id": session_id, "sent": 12, "skipped": 0}
    tail = cli("tail", session_id, "--max-events", "8")  # opened after the push: the first reader gets it all
    assert tail.exit_code == 0, tail.stderr
    results = [json.loads(line)["event_data"] for line in tail.lines]
    assert [bool(r["alerts"]) for r in results] == [False, False, True, True, True, True, False, False]


def test_cli_query_on_the_image_qa_lens(cli, emu, tmp_path):
    image = tmp_path / "x.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(24))
    session_id = cli("session", "create", IMAGE_QA_ID, "-q").stdout.strip()
    result = cli("query", session_id, "--image", str(image), "--focus", "count the cups")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("An image of 32 bytes") and "Focus: count the cups" in result.stdout


def test_cli_lists_the_public_lenses(cli, emu):
    listed = {lens["lens_id"] for lens in json.loads(cli("lens", "list", "--json").stdout)}
    assert {ACTIVITY_MONITOR_ID, SESSION_EXAMPLE_ID, IMAGE_QA_ID, MACHINE_STATE_ID} <= listed
