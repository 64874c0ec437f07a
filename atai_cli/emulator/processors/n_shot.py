"""Machine State n-shot classes (lens_timeseries_state_processor): session.modify names one or
more example CSV files per class (`input_n_shot: {"NORMAL": file_id, "WARNING": [file_id...]}`)
and the columns to use (`csv_configs.data_columns`). Each class is summarised by the mean and
the spread of every column over its examples; a window of input gets the label of the
nearest class (each column scaled by its spread over all the examples), with scores that
sum to 1. Deterministic and easy to reason about: a window that looks like the WARNING file
is labelled WARNING."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from atai_cli.emulator.processors.csv_table import CsvTable


def features(rows: list[list[float]], indexes: list[int]) -> list[float]:
    """Per column: the mean, then the standard deviation."""
    means, spreads = [], []
    for c in indexes:
        values = [row[c] for row in rows if c < len(row)]
        mean = sum(values) / len(values) if values else 0.0
        means.append(mean)
        spreads.append(math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) if values else 0.0)
    return means + spreads


@dataclass
class NShot:
    columns: list[str]
    centroids: dict[str, list[float]]
    scale: list[float]
    examples: dict[str, list[str]]  # label -> file ids
    rows: dict[str, int]  # label -> example rows learned from

    def classify(self, table: CsvTable, window: list[list[float]]) -> list:
        indexes = [table.columns.index(c) for c in self.columns if c in table.columns]
        point = features(window, indexes)
        distances = {
            label: math.sqrt(sum(((p - c) / s) ** 2 for p, c, s in zip(point, centroid, self.scale)))
            for label, centroid in self.centroids.items()
        }
        best = min(distances, key=lambda label: (distances[label], label))
        weights = {label: math.exp(-d) for label, d in distances.items()}
        total = sum(weights.values()) or 1.0
        return [best, {label: round(w / total, 4) for label, w in weights.items()}]


def learn(input_n_shot: Any, csv_configs: Any, path_of: Callable[[str], Path | None],
          parse: Callable[[str, str | None], CsvTable]) -> tuple[NShot | None, list[str]]:
    """The classes, or None and what is wrong with the request."""
    if not isinstance(input_n_shot, dict) or not input_n_shot:
        return None, ["input_n_shot must map each class label to a file id (or a list of file ids)"]
    configs = csv_configs if isinstance(csv_configs, dict) else {}
    wanted = configs.get("data_columns")
    stamp = configs.get("timestamp_column") if isinstance(configs.get("timestamp_column"), str) else None
    problems: list[str] = []
    if wanted is not None and not (isinstance(wanted, list) and wanted and all(isinstance(c, str) for c in wanted)):
        return None, [f"csv_configs.data_columns must be a list of column names, got {wanted!r}"]
    tables: dict[str, list[CsvTable]] = {}
    examples: dict[str, list[str]] = {}
    for label, value in input_n_shot.items():
        file_ids = [value] if isinstance(value, str) else value
        if not isinstance(file_ids, list) or not file_ids or not all(isinstance(f, str) and f for f in file_ids):
            problems.append(f"input_n_shot.{label} must be a file id or a list of file ids, got {value!r}")
            continue
        examples[label] = file_ids
        for file_id in file_ids:
            path = path_of(file_id)
            if path is None:
                problems.append(f"input_n_shot.{label}: file not found: {file_id}")
                continue
            table = parse(path.read_text("utf-8", "replace"), stamp)
            if not table.rows:
                problems.append(f"input_n_shot.{label}: {file_id} has no data rows")
                continue
            tables.setdefault(label, []).append(table)
    if problems:
        return None, problems
    first = next(iter(tables.values()))[0]
    columns = wanted if wanted else first.columns
    for label, each in tables.items():
        for table, file_id in zip(each, examples[label]):
            missing = [c for c in columns if c not in table.columns]
            if missing:
                problems.append(f"input_n_shot.{label}: {file_id} has no column {', '.join(map(repr, missing))}")
    if problems:
        return None, problems
    centroids, rows, pooled = {}, {}, []
    for label, each in tables.items():
        class_rows = []
        for table in each:
            indexes = [table.columns.index(c) for c in columns]
            class_rows.extend([[row[i] for i in indexes] for row in table.rows])
        centroids[label] = features(class_rows, list(range(len(columns))))
        rows[label] = len(class_rows)
        pooled.extend(class_rows)
    # One scale per column, for its mean and its spread alike: the column's spread over every
    # example row, so no column (or unit) outweighs another. A constant column tells nothing.
    spreads = features(pooled, list(range(len(columns))))[len(columns):]
    column_scale = [spread if spread > 1e-12 else math.inf for spread in spreads]
    scale = column_scale + column_scale
    return NShot(list(columns), centroids, scale, examples, rows), []
