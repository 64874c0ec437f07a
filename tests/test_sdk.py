"""The official archetypeai SDK (26.10.14.0) as a client of the emulator: proof that the
emulator speaks what the real client speaks."""

from __future__ import annotations

import time

import pytest

archetypeai = pytest.importorskip("archetypeai")

from atai_cli.emulator.catalog import SSE_LENS_ID  # noqa: E402
from conftest import SAMPLE_CSV  # noqa: E402


@pytest.fixture
def sdk(emu):
    from archetypeai.api_client import ArchetypeAI

    client = ArchetypeAI(emu.api_key, api_endpoint=emu.endpoint)
    yield client
    client.lens.sessions.close()


def test_sdk_session_lifecycle_and_sse(emu, sdk, tmp_path):
    emu.configure(idle_timeout_s=1.0)
    lens = sdk.lens.get_metadata(lens_id=SSE_LENS_ID)
    assert len(lens) == 1 and lens[0]["lens_config"]["output_streams"][0]["stream_type"] == "server_sent_events_writer"

    csv_path = tmp_path / "machine.csv"
    csv_path.write_bytes(SAMPLE_CSV.read_bytes())
    upload = sdk.files.local.upload(str(csv_path))
    assert upload["file_id"] == "machine.csv"

    session_id, session_endpoint = sdk.lens.create_session(SSE_LENS_ID)
    assert session_endpoint.startswith("ws://127.0.0.1")
    assert sdk.lens.sessions.connect(session_id, session_endpoint)

    deadline = time.monotonic() + 10
    while True:
        status = sdk.lens.sessions.process_event(session_id, {"type": "session.status"})["session_status"]
        if status.endswith("RUNNING") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status == "LensSessionStatus.SESSION_STATUS_RUNNING"

    record = sdk.lens.sessions.write(session_id, {"type": "session.status"})
    assert record["session_id"] == session_id
    assert sdk.lens.sessions.write(session_id, {"type": "session.validate"})["event_data"]["is_valid"] is True

    reader = sdk.lens.sessions.create_sse_consumer(session_id)
    emu.wait_for_reader(session_id)
    reply = sdk.lens.sessions.write(session_id, {
        "type": "input_stream.set",
        "event_data": {"stream_type": "csv_file_reader", "stream_config": {"file_id": "machine.csv"}},
    })
    assert reply == {"type": "input_stream.set.response", "event_data": {"is_valid": True, "error_messages": []}}

    events = []
    deadline = time.monotonic() + 15
    for event in reader.read(block=True):
        events.append(event)
        if event["type"] == "sse.stream.end" or time.monotonic() > deadline:
            break
    reader.close()
    types = [e["type"] for e in events]
    assert types[0] == "sse.stream.start" and types[-1] == "sse.stream.end"
    assert types.count("inference.result") == 6

    destroyed = sdk.lens.sessions.destroy(session_id)
    assert destroyed["session_status"] == "SESSION_STATUS_DESTROYED"


def test_sdk_register_clone_delete(sdk):
    registered = sdk.lens.register({
        "lens_name": "sdk lens",
        "lens_config": {"model_pipeline": [{"processor_name": "lens_timeseries_state_processor"}],
                        "output_streams": [{"stream_type": "server_sent_events_writer"}]},
    })
    assert registered["lens_id"].startswith("lns-sdk-lens-")
    clone = sdk.lens.clone(registered["lens_id"])
    assert clone["lens_config"]["origin_lens_id"] == registered["lens_id"]
    assert sdk.lens.modify(clone["lens_id"], {"focus": "pumps"})["lens_config"]["model_parameters"]["focus"] == "pumps"
    assert sdk.lens.delete(clone["lens_id"])["is_valid"] is True
    assert sdk.lens.delete(registered["lens_id"])["is_valid"] is True


def test_sdk_sees_api_errors(sdk):
    from archetypeai import ApiError

    with pytest.raises(ApiError) as info:
        sdk.lens.sessions.create("lns-missing")
    assert info.value.errors[0]["code"] == "lens_not_found"
