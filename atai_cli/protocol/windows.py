"""Sensor data as session.update data events: one per JSON line, or CSV rows in windows.

Time-series lenses take windows channel-first, `{"sensor_data": [[ch1...], [ch2...]],
"sensor_metadata": {"sensor_timestamp", "sensor_id"}}` (lens-api.md 2.3); sensor-log lenses
take any JSON object as `data.json`.
"""

from __future__ import annotations

import csv
import json
from typing import Iterable, Iterator

from atai_cli.errors import UsageError


def jsonl_events(lines: Iterable[str], source: str = "input") -> Iterator[dict]:
    """One data event per JSON line: a full event ({"type": "data.*", "event_data": ...}) is
    sent as is, anything else is wrapped as data.json."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise UsageError(f"{source} line {number} is not JSON: {exc}") from exc
        if isinstance(value, dict) and str(value.get("type", "")).startswith("data.") and "event_data" in value:
            yield value
        else:
            yield {"type": "data.json", "event_data": value}


def csv_windows(lines: Iterable[str], window: int, sensor_id: str, source: str = "input") -> Iterator[dict]:
    """CSV rows grouped into windows of `window` rows, channel-first; a column whose name says
    "time" gives each window its sensor_timestamp."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if not header:
        raise UsageError(f"{source} is empty: expected a CSV header line")
    time_index = next((i for i, name in enumerate(header) if "time" in name.lower()), None)
    channels = [i for i in range(len(header)) if i != time_index]
    rows: list[tuple[int, list[str]]] = []

    def flush() -> dict:
        data = []
        for column in channels:
            values = []
            for line_number, row in rows:
                try:
                    values.append(float(row[column]))
                except (ValueError, IndexError) as exc:
                    cell = row[column] if column < len(row) else "(missing)"
                    raise UsageError(
                        f"{source} line {line_number}: column {header[column]!r} is not a number: {cell!r}"
                    ) from exc
            data.append(values)
        stamp: object = rows[0][1][time_index] if time_index is not None else None
        try:
            stamp = float(stamp) if stamp is not None else None  # type: ignore[arg-type]
        except ValueError:
            pass
        return {"type": "data.json", "event_data": {
            "sensor_data": data, "sensor_metadata": {"sensor_timestamp": stamp, "sensor_id": sensor_id},
        }}

    for row in reader:
        if not row:
            continue
        rows.append((reader.line_num, row))
        if len(rows) == window:
            yield flush()
            rows = []
    if rows:
        yield flush()
