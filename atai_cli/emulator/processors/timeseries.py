"""Time series: CSV files read in windows (csv_file_reader), and channel-first windows pushed
with session.update. Labels come from the data: the Machine State lens's n-shot classes when
session.modify gave some (n_shot.py), else "high"/"low" against the file's own mean."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from typing import Any, Iterator

from atai_cli.emulator.processors.common import query_id
from atai_cli.emulator.processors.csv_table import CsvTable
from atai_cli.emulator.processors.n_shot import NShot


def positive_int(value: Any, default: int) -> int:
    """`value` when it is a positive integer, else `default` (settings are validated before
    a reader starts; this keeps a reader safe from anything that slipped through)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


@dataclass
class WindowSettings:
    size: int
    step: int
    loop: bool
    cut_off: bool  # drop a last window shorter than `size`
    data_columns: list[str] | None
    timestamp_column: str | None


def window_settings(model_parameters: dict, csv_configs: dict, stream_config: dict) -> WindowSettings:
    """stream_config wins over session.modify's csv_configs, which wins over model_parameters."""
    def first(key: str) -> Any:
        for source in (stream_config, csv_configs, model_parameters):
            if isinstance(source, dict) and source.get(key) is not None:
                return source[key]
        return None

    size = positive_int(first("window_size"), 10)
    cut_off = first("cut_off_incomplete_window")
    columns = first("data_columns")
    stamp = first("timestamp_column")
    return WindowSettings(
        size=size,
        step=positive_int(first("step_size"), size),
        loop=bool(stream_config.get("loop_recording")),
        cut_off=True if cut_off is None else bool(cut_off),
        data_columns=[c for c in columns if isinstance(c, str)] if isinstance(columns, list) else None,
        timestamp_column=stamp if isinstance(stamp, str) else None,
    )


def windows(rows: list, settings: WindowSettings) -> Iterator[tuple[int, list]]:
    """(first row index, rows) of each window. The first window shorter than `size` ends the
    file: dropped with cut_off (the default), sent as it is without."""
    for start in range(0, len(rows), settings.step):
        window = rows[start:start + settings.size]
        if len(window) < settings.size:
            if not settings.cut_off:
                yield start, window
            return
        yield start, window


def column_means(window: list[list[float]], indexes: list[int]) -> list[float]:
    means = []
    for c in indexes:
        values = [row[c] for row in window if c < len(row)]
        means.append(round(sum(values) / len(values), 6) if values else 0.0)
    return means


def high_low(value: float, overall: float) -> list:
    """[label, {label: score}] for a window whose first column averages `value`."""
    label = "high" if value > overall else "low"
    spread = abs(value - overall) / (abs(overall) + 1.0)
    score = round(min(0.99, 0.5 + spread), 4)
    return [label, {label: score, ("low" if label == "high" else "high"): round(1 - score, 4)}]


async def run_csv(session, config, table: CsvTable, file_id: str, settings: WindowSettings, source: int) -> None:
    names, indexes = table.select(settings.data_columns)
    n_shot: NShot | None = session.n_shot
    firsts = [row[indexes[0]] for row in table.rows] if indexes else []
    overall = sum(firsts) / len(firsts) if firsts else 0.0
    session.num_inputs += len(table.rows)
    while True:
        sent = 0
        for start, window in windows(table.rows, settings):
            await asyncio.sleep(config.output_interval_s)
            means = column_means(window, indexes)
            if n_shot is not None:
                response = n_shot.classify(table, window)
            else:
                response = high_low(means[0] if means else 0.0, overall)
            await session.model.submit("inference.result", {
                "response": response,
                "query_id": query_id(),
                "query_metadata": {
                    "query_metadata": {"file_id": file_id, "read_index": start, "window_size": len(window),
                                       "total_rows": len(table.rows)},
                    "sensor_timestamp": table.stamps[start],
                },
                "query_time_sec": config.model_latency_s,
                "window_means": dict(zip(names, means)),
            }, source)
            sent += 1
        if not settings.loop or sent == 0:  # a loop over no windows would spin forever
            return


def pushed_window_result(event: dict, index: int) -> dict:
    """The result of one pushed data event (session.update): channel means and a digest."""
    data = event.get("event_data")
    channels: list[float] = []
    if isinstance(data, dict) and isinstance(data.get("sensor_data"), list):
        for channel in data["sensor_data"]:
            if isinstance(channel, list) and channel:
                numbers = [float(v) for v in channel if isinstance(v, (int, float)) and not isinstance(v, bool)]
                channels.append(round(sum(numbers) / len(numbers), 6) if numbers else 0.0)
    digest = hashlib.sha256(repr(data).encode()).hexdigest()[:12]
    label = "active" if channels and channels[0] > 0 else "idle"
    return {
        "response": [label, {label: 0.9}],
        "query_id": query_id(),
        "query_metadata": {"query_metadata": {"read_index": index}, "sensor_timestamp": time.time()},
        "channel_means": channels,
        "input_digest": digest,
        "input_type": event.get("type"),
    }
