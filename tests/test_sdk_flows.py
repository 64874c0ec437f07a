"""The official SDK's own lens workflows (archetypeai/python-client examples), run unchanged
against an emulator with its default timings: start-up delay, output pacing and model
latency as a user of `atai emulator` gets them.

Each test stops at the first result it needs. The SDK's reader is closed only after the
session is destroyed: `ServerSideEventsReader.close()` joins a thread that notices the stop
only on its next non-heartbeat event, which the destroy's `sse.stream.end` provides at once.
"""

from __future__ import annotations

import base64
import textwrap

import pytest
import yaml

pytest.importorskip("archetypeai")

from archetypeai import ApiError  # noqa: E402
from archetypeai.api_client import ArchetypeAI  # noqa: E402

from atai_cli.emulator.catalog import ACTIVITY_MONITOR_ID, IMAGE_QA_ID, MACHINE_STATE_ID, NEWTON  # noqa: E402
from atai_cli.emulator.server import EmulatorServer  # noqa: E402
from atai_cli.emulator.tuning import EmulatorConfig  # noqa: E402

pytestmark = pytest.mark.timeout(60)
SENSOR_LOGS = __import__("pathlib").Path(__file__).resolve().parents[1] / "atai_cli" / "data" / "sensor_logs.jsonl"
FAKE_MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(range(256)) * 40  # no moov: counts as 20 s


@pytest.fixture(scope="module")
def server():
    """Default timings (EmulatorConfig()), unlike the shared fast emulator of conftest."""
    with EmulatorServer(config=EmulatorConfig()) as running:
        yield running


@pytest.fixture
def client(server):
    sdk = ArchetypeAI(server.api_key, api_endpoint=server.endpoint)
    yield sdk
    sdk.lens.sessions.close()


def first_result(reader, event_type: str = "inference.result") -> dict:
    for event in reader.read(block=True):
        if event["type"] == event_type:
            return event
    raise AssertionError(f"the stream ended without an {event_type}")


def sse_lens(name: str, pipeline: str, parameters: dict, input_stream: dict) -> str:
    """A lens as the SDK examples write it: YAML that declares its own input and output."""
    return yaml.safe_dump({"lens_name": name, "lens_config": {
        "model_pipeline": [{"processor_name": pipeline}],
        "model_parameters": parameters,
        "input_streams": [input_stream],
        "output_streams": [{"stream_type": "server_sent_events_writer"}],
    }}, sort_keys=False)


def run_lens(client, yaml_config: str) -> tuple[dict, dict]:
    """create_and_run_lens as quickstart.py does it: validate at once, then only read SSE.
    Returns (session.validate reply, the first inference.result)."""
    seen = {}

    def session_fn(session_id, session_endpoint):
        seen["validate"] = client.lens.sessions.process_event(session_id, {"type": "session.validate"})
        assert seen["validate"]["event_data"]["is_valid"], seen["validate"]
        seen["reader"] = client.lens.sessions.create_sse_consumer(session_id)
        return first_result(seen["reader"])

    result = client.lens.create_and_run_lens(yaml_config, session_fn)
    seen["reader"].close()
    return seen["validate"], result


def test_quickstart_video_file(client, tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(FAKE_MP4)
    file_id = client.files.local.upload(str(clip))["file_id"]
    validate, result = run_lens(client, sse_lens(
        "Custom Activity Monitor", "lens_camera_processor",
        {"model_version": NEWTON, "instruction": "Analyze the video.", "focus": "people", "max_new_tokens": 256,
         "camera_buffer_size": 5, "camera_buffer_step_size": 5},
        {"stream_type": "video_file_reader",
         "stream_config": {"file_id": file_id, "target_image_size": [360, 640], "target_frame_rate_hz": 1.0}},
    ))
    assert validate == {"type": "session.validate.response", "event_data": {"is_valid": True, "error_messages": []}}
    data = result["event_data"]
    assert data["response"][0].startswith("Frames 0-4 of clip.mp4: ") and "(focus: people)" in data["response"][0]
    assert data["query_metadata"] == {"sensor_timestamp": "00:00:00", "frame_ids": [0, 1, 2, 3, 4]}


def test_sensor_logs_jsonl_file(client):
    file_id = client.files.local.upload(str(SENSOR_LOGS))["file_id"]
    _, result = run_lens(client, sse_lens(
        "Sensor Log Detector", "lens_sensor_logs_processor",
        {"model_version": NEWTON, "instruction": "Analyze the sensor logs.", "focus": "Output an alert if a user enters the kitchen."},
        {"stream_type": "jsonl_file_reader", "stream_config": {"file_id": file_id}},
    ))
    data = result["event_data"]
    # rows 0-4 (sensor_buffer_size defaults to 5): the person moves about the hallway
    assert data["response"][0].startswith("Rows 0-4: motion changed false -> false (2 changes)")
    assert data["changed_fields"] == ["motion", "temperature_c"] and data["alerts"] == []
    assert data["query_metadata"]["query_metadata"] == {"read_index": 0, "buffer_size": 5, "file_id": "sensor_logs.jsonl"}


def test_rtsp_camera(client):
    _, result = run_lens(client, sse_lens(
        "Camera Monitor", "lens_camera_processor", {"focus": "vehicles"},
        {"stream_type": "rtsp_video_reader",
         "stream_config": {"rtsp_url": "rtsp://camera.local/stream1", "target_image_size": [360, 640], "target_frame_rate_hz": 0.2}},
    ))
    text = result["event_data"]["response"][0]
    assert text.startswith("Frames 0-4 of rtsp://camera.local/stream1: ") and text.endswith("(focus: vehicles)")
    assert result["event_data"]["query_metadata"]["sensor_timestamp"] == "00:00:00"


def test_rest_push_then_consume(client):
    """lens_sensor_logs_rest.py: ten session.update pushes, and only then the consumer."""
    yaml_config = textwrap.dedent(f"""\
        lens_name: Sensor Log Detector
        lens_config:
          model_pipeline:
            - processor_name: lens_sensor_logs_processor
          model_parameters:
            model_version: {NEWTON}
            focus: Output an alert if the sensor value exceeds 5.
            sensor_buffer_size: 1
          output_streams:
            - stream_type: server_sent_events_writer
        """)
    seen = {}

    def session_fn(session_id, session_endpoint):
        assert client.lens.sessions.process_event(session_id, {"type": "session.validate"})["event_data"]["is_valid"]
        for value in range(10):
            event = {"type": "session.update", "event_data": {"type": "data.json", "event_data": {"sensor_id": "sensor_1", "value": value}}}
            reply = client.lens.sessions.process_event(session_id, event)
            assert reply == {"type": "session.update.response", "event_data": {"is_valid": True, "error_messages": []}}
        seen["reader"] = client.lens.sessions.create_sse_consumer(session_id)
        return [first_result(seen["reader"]), first_result(seen["reader"])]

    first, second = client.lens.create_and_run_lens(yaml_config, session_fn)
    seen["reader"].close()
    # one row per buffer: nothing changes inside a buffer of one, and results come in order
    assert first["event_data"]["response"] == ["Rows 0-0: nothing changed; steady: sensor_id, value"]
    assert second["event_data"]["query_metadata"]["query_metadata"]["read_index"] == 1


def test_image_qa_model_query(client):
    lens = client.lens.get_metadata(lens_id=IMAGE_QA_ID)
    assert len(lens) == 1
    params = lens[0]["lens_config"]["model_parameters"]
    assert params["model_version"] == NEWTON and params["template_name"] == "image_qa_template_task"
    session_id, _ = client.lens.create_session(IMAGE_QA_ID)
    image = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"pixels" * 10).decode()
    reply = client.lens.sessions.process_event(session_id, {"type": "model.query", "event_data": {
        "model_version": params["model_version"], "template_name": params["template_name"],
        "instruction": params["instruction"], "focus": "How many pixels?", "max_new_tokens": 256,
        "data": [{"type": "base64_img", "base64_img": image}], "sensor_metadata": {},
    }})
    client.lens.sessions.destroy(session_id)
    assert reply["type"] == "model.query.response"
    assert reply["event_data"]["response"][0].startswith("An image of 68 bytes") and "Focus: How many pixels?" in reply["event_data"]["response"][0]


def test_clone_and_modify_activity_monitor(client):
    origin = client.lens.get_metadata(lens_id=ACTIVITY_MONITOR_ID)
    assert len(origin) == 1 and origin[0]["lens_modifiable"] is False
    clone = client.lens.clone(ACTIVITY_MONITOR_ID)
    assert clone["lens_modifiable"] is True and clone["lens_config"]["origin_lens_id"] == ACTIVITY_MONITOR_ID
    # lens_clone.py: edit the returned metadata and send all of it back
    clone["lens_name"] = "Forklift Monitor"
    clone["lens_config"]["model_parameters"]["focus"] = "forklifts"
    modified = client.lens.modify(clone["lens_id"], clone)
    assert modified["lens_name"] == "Forklift Monitor"
    assert modified["lens_config"]["model_parameters"]["focus"] == "forklifts"
    assert "lens_status" not in modified["lens_config"]["model_parameters"]  # read-only keys are not parameters
    assert client.lens.get_metadata(lens_id=ACTIVITY_MONITOR_ID)[0]["lens_config"]["model_parameters"]["focus"] != "forklifts"
    with pytest.raises(ApiError):
        client.lens.modify(ACTIVITY_MONITOR_ID, {"focus": "forklifts"})
    assert client.lens.delete(clone["lens_id"])["is_valid"] is True


def test_modify_session_focus(client):
    """lens_modify_session.py: session.get, session.modify, session.get."""
    yaml_config = f"lens_name: Custom Activity Monitor\nlens_config:\n  model_parameters:\n    model_version: {NEWTON}\n    focus: cars\n"

    def session_fn(session_id, session_endpoint):
        before = client.lens.sessions.process_event(session_id, {"type": "session.get", "event_data": {}})
        client.lens.sessions.process_event(session_id, {"type": "session.modify", "event_data": {"focus": "trucks"}})
        after = client.lens.sessions.process_event(session_id, {"type": "session.get", "event_data": {}})
        return before["event_data"]["focus"], after["event_data"]["focus"]

    assert client.lens.create_and_run_lens(yaml_config, session_fn) == ("cars", "trucks")


def machine_csv(rows: list[tuple[float, float]]) -> str:
    return "timestamp,vibration,temperature\n" + "".join(f"{n * 0.1:.1f},{v},{t}\n" for n, (v, t) in enumerate(rows))


def test_machine_state_n_shot(client, tmp_path):
    """lens_machine_state.py: consumer first, class examples with session.modify, then the
    CSV input and the SSE writer; each window is labelled by the nearest class."""
    normal = tmp_path / "normal.csv"
    normal.write_text(machine_csv([(0.1 + 0.01 * (n % 3), 40.0 + 0.1 * (n % 2)) for n in range(20)]))
    warning = tmp_path / "warning.csv"
    warning.write_text(machine_csv([(0.9 + 0.05 * (n % 3), 75.0 + 0.5 * (n % 2)) for n in range(20)]))
    data = tmp_path / "machine.csv"  # 2 windows like NORMAL, then 2 like WARNING
    data.write_text(machine_csv([(0.12, 41.0)] * 20 + [(0.95, 74.0)] * 20))
    file_ids = [client.files.local.upload(str(path))["file_id"] for path in (data, normal, warning)]

    session_id, session_endpoint = client.lens.create_session(lens_id=MACHINE_STATE_ID)
    assert client.lens.sessions.connect(session_id=session_id, session_endpoint=session_endpoint)
    reader = client.lens.sessions.create_sse_consumer(session_id)
    modify = client.lens.sessions.process_event(session_id, {"type": "session.modify", "event_data": {
        "input_n_shot": {"NORMAL": file_ids[1], "WARNING": file_ids[2]},
        "csv_configs": {"data_columns": ["vibration", "temperature"], "window_size": 10, "step_size": 10, "cut_off_incomplete_window": False},
    }})
    assert modify["event_data"] == {"is_valid": True, "error_messages": []}
    reply = client.lens.sessions.process_event(session_id, {"type": "input_stream.set", "event_data": {
        "stream_type": "csv_file_reader",
        "stream_config": {"file_id": file_ids[0], "window_size": 10, "step_size": 10, "loop_recording": False,
                          "cut_off_incomplete_window": True, "output_format": "json"},
    }})
    assert reply["event_data"]["is_valid"] is True
    assert client.lens.sessions.process_event(session_id, {"type": "output_stream.set", "event_data": {
        "stream_type": "server_side_events_writer", "stream_config": {}}})["event_data"]["is_valid"] is True

    results = []
    for event in reader.read(block=True):
        if event["type"] == "inference.result":
            results.append(event["event_data"])
            if len(results) == 4:
                break
    client.lens.sessions.destroy(session_id=session_id)
    reader.close()
    labels = [r["response"][0] for r in results]
    assert labels == ["NORMAL", "NORMAL", "WARNING", "WARNING"]
    assert all(r["response"][1][r["response"][0]] > 0.5 for r in results)
    assert [r["query_metadata"]["query_metadata"] for r in results] == [
        {"file_id": "machine.csv", "read_index": n, "window_size": 10, "total_rows": 40} for n in (0, 10, 20, 30)]
