"""The session runner: starts the session, runs its one input, takes pushed data, and judges
its configuration.

- A session goes REGISTERED -> RUNNING after --start-delay; then the first input stream its
  lens config declares (`lens_config.input_streams`) starts by itself, exactly as if
  `input_stream.set` had been sent (the SDK's quickstarts only open the SSE consumer).
- A session has one input. `input_stream.set` replaces it: the old reader is stopped (and
  its queued results dropped) before the new one starts, so two inputs never interleave.
- Everything about an input is checked before it starts (stream_config, the file, the file's
  content), so a reader never fails on a client's input; what is wrong is answered as
  `is_valid: false` with the reasons.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Coroutine

from atai_cli.emulator import lens_checks
from atai_cli.emulator.background import start_task
from atai_cli.emulator.processors import is_sensor_logs, model_parameters
from atai_cli.emulator.processors import camera, csv_table, sensor_logs, synthetic, timeseries
from atai_cli.emulator.memory import EmulatorState, Session
from atai_cli.protocol import status
from atai_cli.protocol.streams import (
    CSV_READER, JSONL_READER, RTSP_READERS, SENSOR_STREAMER, SYNTHETIC_READER, VIDEO_READER, declared_inputs,
)

UNHEALTHY = "Input stream is unhealthy!"
PUSHED = -1  # the `source` of pushed data's results: never dropped by an input change
DATA_TYPES = ("data.json", "data.text", "data.base64_img", "data.numeric_array")

Reader = Callable[[int], Coroutine]  # the input's generation -> the reader coroutine


async def start_runner(state: EmulatorState, session: Session) -> None:
    """REGISTERED -> RUNNING after the configured start delay (or FAILED, when injected),
    then the declared input."""
    await asyncio.sleep(state.config.start_delay_s)
    if session.destroyed:
        return
    if state.config.fail_sessions:
        session.status = status.FAILED
        session.errors = ["Failed to fetch session_runner!"]
        session.touch()
        return
    session.status = status.RUNNING
    session.session_start_timestamp = time.time()
    session.num_updates += 1
    session.touch()
    if session.player is not None:  # a replayed recording: it is the session's output
        session.player.running()
        return
    declared = declared_inputs(session.lens_config)
    if declared:  # one input per session: the first declared stream (docs/emulator.md)
        stream = declared[0]
        problems = await set_input(state, session, stream.get("stream_type"), stream.get("stream_config"))
        if problems:
            session.input_errors.extend(problems)
            session.emit("error", {"message": problems[0], "error_messages": problems})


async def set_input(state: EmulatorState, session: Session, stream_type: Any, stream_config: Any) -> list[str]:
    """Replace the session's input; [] when it started, else why not (nothing changed then)."""
    config = {} if stream_config is None else stream_config
    problems = lens_checks.reader_problems(stream_type, config)
    if problems:
        return problems
    reader, problems = _prepare(state, session, stream_type, config)
    if problems:
        return problems
    async with session.input_lock:
        await stop_input(session)
        if session.destroyed:
            return [f"Session {session.session_id} was destroyed"]
        session.input_generation += 1
        session.log_buffer = None  # a new input starts a new sensor-log buffer
        session.input_errors.clear()
        session.input_data_stream_id = f"{stream_type}:{config.get('file_id') or config.get('rtsp_url') or 'direct'}"
        session.touch()
        if reader is not None:
            session.input_task = start_task(session, reader(session.input_generation), f"{stream_type} reader")
    return []


async def stop_input(session: Session) -> None:
    """Stop the current reader and wait until it has stopped; forget its queued results."""
    task, session.input_task = session.input_task, None
    if task is not None and not task.done():
        task.cancel()
        await asyncio.wait([task])
    if session.model is not None:
        session.model.drop(session.input_generation)


def _prepare(state: EmulatorState, session: Session, kind: str, config: dict) -> tuple[Reader | None, list[str]]:
    """Read and check the input's data now, so the reader itself cannot fail on it."""
    cfg = state.config
    params = model_parameters(session.lens_config)
    if kind in (CSV_READER, JSONL_READER, VIDEO_READER):
        file_id = config["file_id"]
        path = state.files.path(file_id)
        if path is None:
            return None, [UNHEALTHY, f"File not found: {file_id}"]
        if kind == CSV_READER:
            csv_configs = session.lens_config.get("csv_configs")
            settings = timeseries.window_settings(params, csv_configs if isinstance(csv_configs, dict) else {}, config)
            table = csv_table.parse_csv(path.read_text("utf-8", "replace"), settings.timestamp_column)
            if not table.rows:
                return None, [UNHEALTHY, f"{file_id} has no data rows"]
            if session.n_shot is not None:
                missing = [c for c in session.n_shot.columns if c not in table.columns]
                if missing:
                    return None, [f"{file_id} has no column {', '.join(map(repr, missing))} (the n-shot classes use it)"]
            return lambda source: timeseries.run_csv(session, cfg, table, file_id, settings, source), []
        if kind == JSONL_READER:
            rows, failure = sensor_logs.parse_jsonl(path.read_text("utf-8", "replace"), file_id)
            if failure:
                return None, [f"{failure[0]}: {failure[1]}"]
            return lambda source: sensor_logs.run_jsonl(session, cfg, rows, file_id, source), []
        data = path.read_bytes()
        if not data:
            return None, ["Failed to load video", f"{file_id} is empty"]
        video, buffers = camera.Video.load(file_id, data), camera.buffer_settings(params, config)
        return lambda source: camera.run_video(session, cfg, video, buffers, source), []
    if kind in RTSP_READERS:
        buffers = camera.buffer_settings(params, config)
        return lambda source: camera.run_rtsp(session, cfg, config["rtsp_url"], buffers, source), []
    if kind == SYNTHETIC_READER:
        args = (config.get("count", 1000), config.get("payload_bytes", 64), float(config.get("rate_hz", 0)), config.get("end", False))
        return lambda source: synthetic.run_synthetic(session, *args), []
    if kind == SENSOR_STREAMER:
        return None, []  # data arrives with session.update
    return None, [f"Unknown stream_type: {kind!r}"]  # reader_problems refuses these first


def push(session: Session, data_event: dict) -> list[str]:
    """session.update: one pushed data event. Rows of sensor logs (data.json objects without
    `sensor_data`) go into a sensor-logs lens's buffer; every other data event (the
    channel-first windows `atai stream push` sends, text, images) gets one result of its own."""
    kind = data_event.get("type")
    if kind not in DATA_TYPES:
        return [f"event_data.type must be one of {', '.join(DATA_TYPES)}, got {kind!r}"]
    payload = data_event.get("event_data")
    if payload is None:
        return [f"{kind} needs event_data"]
    if kind in ("data.text", "data.base64_img") and not (isinstance(payload, dict) and isinstance(payload.get("contents"), str)):
        return [f"{kind} needs event_data.contents (a string)"]
    if isinstance(payload, dict) and "sensor_data" in payload and not isinstance(payload["sensor_data"], list):
        return ["event_data.sensor_data must be a list of channels, each a list of numbers"]
    if kind == "data.json" and isinstance(payload, dict) and "sensor_data" not in payload and is_sensor_logs(session.lens_config):
        for result in sensor_logs.add_rows(session, [payload]):
            session.model.submit_nowait("inference.result", result, PUSHED)
        return []
    session.num_inputs += 1
    session.model.submit_nowait("inference.result", timeseries.pushed_window_result(data_event, session.num_inputs - 1), PUSHED)
    return []


def validation_problems(state: EmulatorState, session: Session) -> list[str]:
    """session.validate: the session's configuration judged as a whole. A fresh REGISTERED
    session is judged like a RUNNING one: what matters is whether it can run."""
    if session.destroyed:
        return [f"Session {session.session_id} was destroyed ({session.status})"]
    if session.status == status.FAILED:
        return list(session.errors) or ["The session failed"]
    problems = lens_checks.config_problems(session.lens_config, lambda file_id: state.files.path(file_id) is not None)
    return list(dict.fromkeys(problems + session.input_errors))
