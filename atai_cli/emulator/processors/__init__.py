"""What a session's runner computes from its inputs: deterministic results derived from the
data, so tests can check them (lens-api.md 7.22: the one place the emulator must invent).

One module per processor family:
- timeseries: CSV windows (csv_file_reader) and pushed channel-first windows (session.update)
- n_shot: the Machine State lens's classes learned from example files (session.modify)
- camera: video files and RTSP cameras (lens_camera_processor), and model.query on images
- sensor_logs: JSON rows from a jsonl_file_reader or pushed data.json (lens_sensor_logs_processor)
- synthetic: the emulator-only benchmark stream
"""

from __future__ import annotations

from typing import Any

from atai_cli.protocol.processors import (  # noqa: F401 - the names live with the client's
    CAMERA, KNOWN_PROCESSORS, MODEL_QUERY, NOOP, SENSOR_LOGS, TIMESERIES_EMBEDDING, TIMESERIES_STATE,
)


def processor_names(lens_config: Any) -> set[str]:
    pipeline = lens_config.get("model_pipeline") if isinstance(lens_config, dict) else None
    if not isinstance(pipeline, list):
        return set()
    return {step["processor_name"] for step in pipeline if isinstance(step, dict) and isinstance(step.get("processor_name"), str)}


def is_sensor_logs(lens_config: Any) -> bool:
    return SENSOR_LOGS in processor_names(lens_config)


def model_parameters(lens_config: Any) -> dict:
    params = lens_config.get("model_parameters") if isinstance(lens_config, dict) else None
    return params if isinstance(params, dict) else {}
