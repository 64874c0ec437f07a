"""Sensor logs (lens_sensor_logs_processor): JSON rows, from a jsonl_file_reader (one JSON
object per line of an uploaded file) or pushed one at a time (session.update with data.json),
go into one buffer per session. Every `sensor_buffer_size` rows (default 5) make one
inference; the next one starts `input_buffer_step_size` rows later (default 1; the docs also
call it input_frame_step_size).

The text says what the rows show: which fields changed across the buffer (first -> last
value, and how many times), which stayed steady, and an `alert:` line for each changed field
the lens's focus names, by the field's name or by a text value it changed to ("Output an
alert if a user enters the kitchen" alerts when `location` becomes "kitchen")."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from atai_cli.emulator.processors import model_parameters
from atai_cli.emulator.processors.common import query_id
from atai_cli.emulator.processors.timeseries import positive_int

_MISSING = object()
STAMP_KEYS = ("timestamp", "time", "ts")  # when each row was logged: not a change worth reporting


def buffer_settings(model_parameters: dict) -> tuple[int, int]:
    step = model_parameters.get("input_buffer_step_size", model_parameters.get("input_frame_step_size"))
    return positive_int(model_parameters.get("sensor_buffer_size"), 5), positive_int(step, 1)


def parse_jsonl(text: str, file_id: str) -> tuple[list[dict], tuple[str, str] | None]:
    """(rows, None), or ([], (documented error code, message))."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, dict):
            return [], ("sensor_log_conversion_error", f"line {number} of {file_id} is not a JSON object")
        rows.append(row)
    if not rows:
        return [], ("empty_sensor_log_error", f"the sensor log {file_id} has no rows")
    return rows, None


class LogBuffer:
    """Rows by their index since the buffer started; `add` returns the buffers it completes."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, dict]] = []
        self.received = 0
        self.next_start = 0

    def add(self, row: dict, size: int, step: int) -> list[tuple[int, list[dict]]]:
        self.rows.append((self.received, row))
        self.received += 1
        ready = []
        while self.received >= self.next_start + size:
            end = self.next_start + size
            ready.append((self.next_start, [r for i, r in self.rows if self.next_start <= i < end]))
            self.next_start += step
            self.rows = [(i, r) for i, r in self.rows if i >= self.next_start]
        return ready


def flatten(row: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    return value if isinstance(value, str) else json.dumps(value)


def _named(focus: str, word: str) -> bool:
    words = {word.lower(), word.lower().replace("_", " ")}
    return any(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", focus.lower()) for w in words if w)


def describe(start: int, rows: list[dict], focus: Any) -> dict:
    flat = [flatten(row) for row in rows]
    keys: list[str] = []
    for row in flat:
        keys.extend(k for k in row if k not in keys and k not in STAMP_KEYS)
    focus_text = focus if isinstance(focus, str) else ""
    changed, lines, steady, alerts = [], [], [], []
    for key in keys:
        values = [row.get(key, _MISSING) for row in flat]
        changes = sum(1 for a, b in zip(values, values[1:]) if a != b)
        if not changes:
            steady.append(key)
            continue
        line = f"{key} changed {_show(values[0])} -> {_show(values[-1])} ({changes} change{'s' if changes > 1 else ''})"
        changed.append(key)
        lines.append(line)
        new_texts = [v for v in values[1:] if isinstance(v, str) and len(v) >= 3]
        if focus_text and (_named(focus_text, key) or any(_named(focus_text, v) for v in new_texts)):
            alerts.append(f"alert: {line}")
    summary = f"Rows {start}-{start + len(rows) - 1}: " + ("; ".join(lines) or "nothing changed")
    if steady:
        summary += f"; steady: {', '.join(steady)}"
    stamp = next((row.get(k) for row in rows for k in STAMP_KEYS if row.get(k) is not None), None)
    return {
        "response": ["\n".join([summary, *alerts])],
        "query_id": query_id(),
        "query_metadata": {"query_metadata": {"read_index": start, "buffer_size": len(rows)}, "sensor_timestamp": stamp},
        "changed_fields": changed,
        "alerts": alerts,
    }


def add_rows(session, rows: list[dict]) -> list[dict]:
    """Put rows into the session's buffer; the results of the buffers they complete."""
    if session.log_buffer is None:
        session.log_buffer = LogBuffer()
    params = model_parameters(session.lens_config)  # read now: session.modify may have changed them
    size, step = buffer_settings(params)
    results = []
    for row in rows:
        session.num_inputs += 1
        for start, window in session.log_buffer.add(row, size, step):
            results.append(describe(start, window, params.get("focus")))
    return results


async def run_jsonl(session, config, rows: list[dict], file_id: str, source: int) -> None:
    for row in rows:
        for result in add_rows(session, [row]):
            result["query_metadata"]["query_metadata"]["file_id"] = file_id
            await asyncio.sleep(config.output_interval_s)
            await session.model.submit("inference.result", result, source)
