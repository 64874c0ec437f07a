"""A CSV file as the processors read it: data columns of numbers, the timestamp column apart.
Both the readers (timeseries.py) and the n-shot classes (n_shot.py) take one."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass


@dataclass
class CsvTable:
    columns: list[str]  # data columns (the timestamp column left out)
    stamps: list[str]
    rows: list[list[float]]

    def select(self, names: list[str] | None) -> tuple[list[str], list[int]]:
        """(names, indexes) of the wanted data columns that exist, all of them by default."""
        if not names:
            return list(self.columns), list(range(len(self.columns)))
        found = [name for name in names if name in self.columns]
        return found, [self.columns.index(name) for name in found]


def parse_csv(content: str, timestamp_column: str | None = None) -> CsvTable:
    """Non-numeric cells count as 0. The timestamp column is the one named, or a first
    column whose name contains "time"."""
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
        for i in range(len(header)):
            if i == ts_index:
                continue
            try:
                values.append(float(row[i]))
            except (ValueError, IndexError):
                values.append(0.0)
        rows.append(values)
    return CsvTable(columns, stamps, rows)
