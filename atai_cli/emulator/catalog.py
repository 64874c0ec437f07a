"""The emulator's built-in lenses: one per output channel, plus a camera lens for model.query."""

from __future__ import annotations

import copy

SSE_LENS_ID = "lns-emulator-sse"
MAILBOX_LENS_ID = "lns-emulator-mailbox"
CAMERA_LENS_ID = "lns-emulator-camera"

BUILTIN_LENSES: list[dict] = [
    {
        "lens_id": SSE_LENS_ID,
        "lens_name": "Machine State (emulator, SSE)",
        "lens_status": "LENS_STATUS_MOUNTED",
        "lens_modifiable": False,
        "lens_config": {
            "model_pipeline": [{"processor_name": "lens_timeseries_state_processor", "processor_config": {}}],
            "model_parameters": {
                "model_version": "OmegaEncoder::omega_embeddings_01",
                "window_size": 10,
                "step_size": 10,
            },
            "output_streams": [{"stream_type": "server_sent_events_writer", "stream_config": {}}],
        },
    },
    {
        "lens_id": MAILBOX_LENS_ID,
        "lens_name": "Sensor Logs (emulator, mailbox)",
        "lens_status": "LENS_STATUS_MOUNTED",
        "lens_modifiable": False,
        "lens_config": {
            "model_pipeline": [{"processor_name": "lens_sensor_logs_processor", "processor_config": {}}],
            "model_parameters": {"window_size": 10, "step_size": 10},
        },
    },
    {
        "lens_id": CAMERA_LENS_ID,
        "lens_name": "Activity Monitor (emulator, camera)",
        "lens_status": "LENS_STATUS_MOUNTED",
        "lens_modifiable": False,
        "lens_config": {
            "model_pipeline": [{"processor_name": "lens_camera_processor", "processor_config": {}}],
            "model_parameters": {
                "focus": "people and vehicles",
                "model_name": "Newton",
                "instruction": "Describe the scene.",
                "model_version": "Newton::c2_3_7b_2508014e10af56",
                "max_new_tokens": 512,
                "camera_buffer_size": 5,
                "camera_buffer_step_size": 5,
            },
        },
    },
]


def builtin_lenses() -> dict[str, dict]:
    return {lens["lens_id"]: copy.deepcopy(lens) for lens in BUILTIN_LENSES}


def answers_queries(lens_config: dict) -> bool:
    names = {step.get("processor_name") for step in lens_config.get("model_pipeline") or [] if isinstance(step, dict)}
    return bool(names & {"lens_camera_processor", "lens_model_query_processor"})


DESCRIPTIONS = {
    SSE_LENS_ID: "outputs on the SSE consumer (output_streams has server_sent_events_writer)",
    MAILBOX_LENS_ID: "outputs in the session.read mailbox (no SSE writer)",
    CAMERA_LENS_ID: "answers model.query (image_qa / image_bbox templates); mailbox outputs",
}
