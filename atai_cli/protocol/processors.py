"""Model-pipeline processors (lens-api.md 4): which ones answer model.query.

"model.query is only handled by lenses whose pipeline includes a model-query processor";
camera and time-series lenses time out on it (seed 001), though an official demo gets camera
answers, so the camera processor counts too.
"""

from __future__ import annotations

from typing import Any, Iterator

CAMERA = "lens_camera_processor"
TIMESERIES_STATE = "lens_timeseries_state_processor"
SENSOR_LOGS = "lens_sensor_logs_processor"
NOOP = "lens_noop_processor"
TIMESERIES_EMBEDDING = "lens_timeseries_embedding_processor"
MODEL_QUERY = "lens_model_query_processor"  # a name for the docs' unnamed "model-query processor"

KNOWN_PROCESSORS = frozenset({NOOP, CAMERA, TIMESERIES_STATE, SENSOR_LOGS, TIMESERIES_EMBEDDING, MODEL_QUERY})
QUERY_PROCESSORS = frozenset({CAMERA, MODEL_QUERY})


def processor_names(lens_config: Any) -> Iterator[str]:
    while isinstance(lens_config, dict):
        for step in lens_config.get("model_pipeline") or []:
            if isinstance(step, dict) and isinstance(step.get("processor_name"), str):
                yield step["processor_name"]
        lens_config = lens_config.get("lens_config")


def answers_queries(lens_config: Any) -> bool:
    return any(name in QUERY_PROCESSORS for name in processor_names(lens_config))
