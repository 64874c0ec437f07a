"""What makes a lens configuration valid: the pipeline, the model parameters, the declared
streams. Used by /lens/register, session.modify and session.validate, so all three judge a
configuration by the same rules, and nothing invalid ever reaches a processor."""

from __future__ import annotations

from typing import Any, Callable

from atai_cli.emulator.processors import KNOWN_PROCESSORS
from atai_cli.protocol.streams import (
    INPUT_TYPES, SSE_WRITERS, SYNTHETIC_READER, FILE_READERS, declared_inputs, input_problems, output_problems,
)

# Model parameters that count things: sizes of buffers and windows, tokens. The docs' code for
# a bad one is invalid_model_parameter (sensor_buffer_size <= 0 or input_frame_step_size <= 0).
POSITIVE_INT_PARAMETERS = (
    "sensor_buffer_size", "input_buffer_step_size", "input_frame_step_size", "camera_buffer_size",
    "camera_buffer_step_size", "max_new_tokens", "window_size", "step_size", "temporal_focus",
)
INVALID_MODEL_PARAMETER = "invalid_model_parameter"


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def parameter_problems(params: Any) -> list[str]:
    if params is None:
        return []
    if not isinstance(params, dict):
        return [f"{INVALID_MODEL_PARAMETER}: model_parameters must be an object"]
    problems = [
        f"{INVALID_MODEL_PARAMETER}: {name} must be a positive integer, got {params[name]!r}"
        for name in POSITIVE_INT_PARAMETERS if name in params and not _positive_int(params[name])
    ]
    if "csv_configs" in params:
        problems += csv_configs_problems(params["csv_configs"])
    return problems


def csv_configs_problems(configs: Any) -> list[str]:
    if not isinstance(configs, dict):
        return [f"csv_configs must be an object, got {configs!r}"]
    problems = []
    columns = configs.get("data_columns")
    if columns is not None and not (isinstance(columns, list) and columns and all(isinstance(c, str) and c for c in columns)):
        problems.append(f"csv_configs.data_columns must be a list of column names, got {columns!r}")
    for key in ("window_size", "step_size"):
        if key in configs and not _positive_int(configs[key]):
            problems.append(f"csv_configs.{key} must be a positive integer, got {configs[key]!r}")
    if "timestamp_column" in configs and not isinstance(configs["timestamp_column"], str):
        problems.append(f"csv_configs.timestamp_column must be a column name, got {configs['timestamp_column']!r}")
    if "cut_off_incomplete_window" in configs and not isinstance(configs["cut_off_incomplete_window"], (bool, int)):
        problems.append(f"csv_configs.cut_off_incomplete_window must be true or false, got {configs['cut_off_incomplete_window']!r}")
    return problems


def pipeline_problems(pipeline: Any) -> list[str]:
    if not isinstance(pipeline, list) or not pipeline:
        return ["model_pipeline must be a non-empty list of processors"]
    problems = []
    for step in pipeline:
        name = step.get("processor_name") if isinstance(step, dict) else None
        if not isinstance(name, str):
            problems.append(f"every model_pipeline step needs a processor_name, got {step!r}")
        elif name not in KNOWN_PROCESSORS and name not in SSE_WRITERS:
            problems.append(f"Unknown processor: {name}")
    return problems


def reader_problems(stream_type: Any, config: Any) -> list[str]:
    """input_problems (the rule the CLI shares), plus the stream types the emulator runs."""
    config = {} if config is None else config
    problems = input_problems(stream_type, config)
    if not problems and stream_type not in INPUT_TYPES and stream_type != SYNTHETIC_READER:
        problems.append(f"Unknown stream_type: {stream_type!r}")
    return problems


def config_problems(lens_config: Any, file_exists: Callable[[str], bool]) -> list[str]:
    """Everything wrong with a session's configuration, as session.validate reports it."""
    if not isinstance(lens_config, dict):
        return ["lens_config must be an object"]
    problems = pipeline_problems(lens_config.get("model_pipeline"))
    problems += parameter_problems(lens_config.get("model_parameters"))
    for stream in declared_inputs(lens_config):
        kind, config = stream.get("stream_type"), stream.get("stream_config")
        found = reader_problems(kind, config)
        if not found and kind in FILE_READERS and not file_exists(config["file_id"]):
            found = [f"Input stream is unhealthy! File not found: {config['file_id']}"]
        problems += [f"input_streams: {p}" for p in found]
    outputs = lens_config.get("output_streams")
    if outputs is not None and not isinstance(outputs, list):
        problems.append("output_streams must be a list")
    for stream in outputs if isinstance(outputs, list) else []:
        if not isinstance(stream, dict):
            problems.append(f"output_streams: every stream must be an object, got {stream!r}")
            continue
        problems += [f"output_streams: {p}" for p in output_problems(stream.get("stream_type"), stream.get("stream_config"))]
    return problems
