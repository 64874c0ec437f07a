"""The emulator's built-in lenses.

- Public lenses of the real platform, under their real ids, with the documented metadata
  shape (lens-api.md 1.4 GET /lens/metadata) so the SDK's examples find what they read. Like
  the docs' Activity Monitor, they declare no output stream: attach a writer
  (output_stream.set), or clone and register one that declares it.
- Three emulator lenses (`lns-emulator-*`), one per output channel plus a camera lens.
"""

from __future__ import annotations

import copy

SSE_LENS_ID = "lns-emulator-sse"
MAILBOX_LENS_ID = "lns-emulator-mailbox"
CAMERA_LENS_ID = "lns-emulator-camera"

ACTIVITY_MONITOR_ID = "lns-fd669361822b07e2-bc608aa3fdf8b4f9"
SESSION_EXAMPLE_ID = "lns-fd669361822b07e2-237ab3ffd79199b0"
IMAGE_QA_ID = "lns-fd669361822b07e2-237ab3ffd79199c9"
MACHINE_STATE_ID = "lns-1d519091822706e2-bc108andqxf8b4os"  # not hex: the id as the cookbook spells it
NEWTON = "Newton::c2_4_7b_251215a172f6d7"

PUBLIC_LENSES: list[dict] = [
    {
        "lens_id": ACTIVITY_MONITOR_ID,
        "lens_name": "Activity Monitor",
        "lens_status": "LENS_STATUS_MOUNTED",
        "lens_modifiable": False,
        "lens_config": {  # the docs' GET /lens/metadata example
            "model_pipeline": [{"processor_name": "lens_camera_processor", "processor_config": {}}],
            "model_parameters": {
                "focus": "Describe the actions in the video.",
                "model_name": "Newton",
                "instruction": "Analyze the video with the following focus.",
                "max_replicas": 1,
                "min_replicas": 1,
                "model_version": "Newton::c2_3_7b_2508014e10af56",
                "max_new_tokens": 512,
                "camera_buffer_size": 5,
                "camera_buffer_step_size": 5,
            },
        },
    },
    {
        "lens_id": SESSION_EXAMPLE_ID,
        "lens_name": "Lens Session Example",
        "lens_status": "LENS_STATUS_MOUNTED",
        "lens_modifiable": False,
        "lens_config": {"model_pipeline": [{"processor_name": "lens_noop_processor", "processor_config": {}}], "model_parameters": {}},
    },
    {
        "lens_id": IMAGE_QA_ID,
        "lens_name": "Image Question Answering",
        "lens_status": "LENS_STATUS_MOUNTED",
        "lens_modifiable": False,
        "lens_config": {
            # The docs leave the "model-query processor" unnamed; an official demo answers
            # model.query with a one-frame camera processor, so this lens is one.
            "model_pipeline": [{"processor_name": "lens_camera_processor", "processor_config": {}}],
            "model_parameters": {
                "model_version": NEWTON,
                "template_name": "image_qa_template_task",
                "instruction": "Answer the following question about the image:",
                "focus": "Describe the image.",
                "max_new_tokens": 512,
                "camera_buffer_size": 1,
                "camera_buffer_step_size": 1,
            },
        },
    },
    {
        "lens_id": MACHINE_STATE_ID,
        "lens_name": "Machine State",
        "lens_status": "LENS_STATUS_MOUNTED",
        "lens_modifiable": False,
        "lens_config": {
            "model_pipeline": [{"processor_name": "lens_timeseries_state_processor", "processor_config": {}}],
            "model_parameters": {"model_version": "OmegaEncoder::omega_embeddings_01", "window_size": 1024, "step_size": 1024},
        },
    },
]

EMULATOR_LENSES: list[dict] = [
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


BUILTIN_LENSES: list[dict] = PUBLIC_LENSES + EMULATOR_LENSES


def builtin_lenses() -> dict[str, dict]:
    return {lens["lens_id"]: copy.deepcopy(lens) for lens in BUILTIN_LENSES}


DESCRIPTIONS = {
    ACTIVITY_MONITOR_ID: "Activity Monitor: text results from video files and RTSP cameras; clone it to customise",
    SESSION_EXAMPLE_ID: "the docs' session example (lens_noop_processor)",
    IMAGE_QA_ID: "image question answering: answers model.query",
    MACHINE_STATE_ID: "Machine State: n-shot classes (session.modify input_n_shot) over csv_file_reader windows",
    SSE_LENS_ID: "outputs on the SSE consumer (output_streams has server_sent_events_writer)",
    MAILBOX_LENS_ID: "outputs in the session.read mailbox (no SSE writer)",
    CAMERA_LENS_ID: "answers model.query (image_qa / image_bbox templates); mailbox outputs",
}
