"""What a session's runner produces from its input stream: deterministic results computed
from the data, so tests can check them (lens-api.md 7.22: the one place we must invent)."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import secrets
import time
from pathlib import Path
from typing import Any

from atai_cli.emulator.tuning import EmulatorConfig
from atai_cli.emulator.state import Session


def query_id() -> str:
    return "qry-" + secrets.token_hex(8)


def hms(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def parse_csv(content: str, timestamp_column: str | None = None) -> tuple[list[str], list[str], list[list[float]]]:
    """(data column names, timestamps, rows of floats). Non-numeric cells count as 0."""
    reader = csv.reader(io.StringIO(content))
    header = next(reader, [])
    ts_col = timestamp_column if timestamp_column in header else (header[0] if header and "time" in header[0].lower() else None)
    ts_index = header.index(ts_col) if ts_col else None
    columns = [name for i, name in enumerate(header) if i != ts_index]
    stamps, rows = [], []
    for row in reader:
        if not row:
            continue
        stamps.append(row[ts_index] if ts_index is not None and ts_index < len(row) else str(len(stamps)))
        values = []
        for i, cell in enumerate(row):
            if i == ts_index:
                continue
            try:
                values.append(float(cell))
            except ValueError:
                values.append(0.0)
        rows.append(values)
    return columns, stamps, rows


def window_result(columns: list[str], window: list[list[float]], read_index: int, size: int, stamp: str, overall: float) -> dict:
    """One machine-state style result: [label, {label: score}] from the first column's mean."""
    means = {}
    for c, name in enumerate(columns):
        values = [row[c] for row in window if c < len(row)]
        means[name] = round(sum(values) / len(values), 6) if values else 0.0
    first = next(iter(means.values()), 0.0)
    label = "high" if first > overall else "low"
    spread = abs(first - overall) / (abs(overall) + 1.0)
    score = round(min(0.99, 0.5 + spread), 4)
    return {
        "response": [label, {label: score, ("low" if label == "high" else "high"): round(1 - score, 4)}],
        "query_id": query_id(),
        "query_metadata": {
            "query_metadata": {"read_index": read_index, "window_size": size},
            "sensor_timestamp": stamp,
        },
        "query_time_sec": 0.001,
        "window_means": means,
    }


async def run_csv(session: Session, config: EmulatorConfig, path: Path, stream_config: dict) -> None:
    params = {**(session.lens_config.get("model_parameters") or {}), **(session.lens_config.get("csv_configs") or {})}
    size = int(stream_config.get("window_size") or params.get("window_size") or 10)
    step = int(stream_config.get("step_size") or params.get("step_size") or size)
    columns, stamps, rows = parse_csv(path.read_text("utf-8", "replace"), params.get("timestamp_column"))
    session.num_inputs += len(rows)
    firsts = [row[0] for row in rows if row]
    overall = sum(firsts) / len(firsts) if firsts else 0.0
    loop = bool(stream_config.get("loop_recording"))
    while True:
        for start in range(0, max(0, len(rows) - size) + 1, max(1, step)):
            window = rows[start:start + size]
            if len(window) < size:
                break
            await asyncio.sleep(config.output_interval_s)
            session.emit("inference.result", window_result(columns, window, start, size, stamps[start], overall))
        if not loop:
            return


async def run_frames(session: Session, config: EmulatorConfig, source: str, count: int | None) -> None:
    """Video and RTSP readers: synthetic scene descriptions at the configured rate."""
    step = int((session.lens_config.get("model_parameters") or {}).get("camera_buffer_step_size") or 5)
    n = 0
    while count is None or n < count:
        await asyncio.sleep(config.output_interval_s)
        frames = list(range(n * step, (n + 1) * step))
        session.num_inputs += step
        session.emit("inference.result", {
            "response": [f"Frames {frames[0]}-{frames[-1]} of {source}: a scene with people and vehicles."],
            "query_id": query_id(),
            "query_metadata": {"sensor_timestamp": hms(n * step), "frame_ids": frames},
        })
        n += 1


async def run_synthetic(session: Session, count: int, payload_bytes: int, rate_hz: float = 0.0, end: bool = False) -> None:
    """The emulator's own stream type, for benchmarks. With rate_hz 0 it is the fastest stream
    the emulator has: `count` results with no pacing, held back only while a connected reader
    falls a retention's length behind. With rate_hz > 0 it paces results and stamps each with
    `emitted_at` (for latency measurements). With `end`, the stream ends when all are sent."""
    filler = "x" * max(0, payload_bytes)
    if rate_hz > 0:
        for n in range(count):
            await asyncio.sleep(1.0 / rate_hz)
            session.emit("inference.result", {"response": [filler], "seq": n, "emitted_at": time.time()})
    else:
        batch = 256
        n = 0
        while n < count:
            retention = session.outputs.events.maxlen or 1000
            while session.readers and session.reader_lag() > retention - batch:
                session.progress.clear()
                try:
                    await asyncio.wait_for(session.progress.wait(), 1.0)
                except asyncio.TimeoutError:
                    pass
            for _ in range(min(batch, count - n)):
                session.num_outputs += 1
                session.outputs.append({
                    "type": "inference.result",
                    "event_data": {"response": [filler], "seq": n, "query_id": f"qry-{n}"},
                })
                n += 1
            session.touch()
            session.outputs.notify()
            await asyncio.sleep(0)
    if end:
        session.input_done = True
        session.outputs.notify()


def sensor_result(event: dict, index: int) -> dict:
    """The output for one pushed data event (session.update): channel means and a digest."""
    data = event.get("event_data") if isinstance(event, dict) else None
    channels: list[float] = []
    if isinstance(data, dict) and isinstance(data.get("sensor_data"), list):
        for channel in data["sensor_data"]:
            if isinstance(channel, list) and channel:
                numbers = [float(v) for v in channel if isinstance(v, (int, float))]
                channels.append(round(sum(numbers) / len(numbers), 6) if numbers else 0.0)
    digest = hashlib.sha256(repr(data).encode()).hexdigest()[:12]
    label = "active" if channels and channels[0] > 0 else "idle"
    return {
        "response": [label, {label: 0.9}],
        "query_id": query_id(),
        "query_metadata": {"query_metadata": {"read_index": index}, "sensor_timestamp": time.time()},
        "channel_means": channels,
        "input_digest": digest,
        "input_type": event.get("type") if isinstance(event, dict) else None,
    }


def describe_image(raw: bytes, template: str, focus: Any, instruction: Any) -> str:
    digest = hashlib.sha256(raw).hexdigest()[:8]
    if "bbox" in str(template):
        return f'[{{"label": "object", "box": [0, 0, {len(raw) % 640}, {len(raw) % 360}], "image": "{digest}"}}]'
    return f"An image of {len(raw)} bytes (digest {digest}). Focus: {focus or 'none'}. Instruction: {instruction or 'none'}."
