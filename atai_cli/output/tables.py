"""The one table layer: how every table on a terminal fits its width.

Every terminal table goes through `fit` (session, lens and file lists, destroy's confirmation,
`session list --watch`, the fleet view's rows), so no table can regress alone. The rules
(contract v3, "Terminal views"): one line per row; ids are never cut or wrapped; when the
columns do not fit, whole columns are dropped, the least useful first; a terminal narrower
than the ids gets the ids alone, one per line. Off a terminal, tables are tab-separated and
none of this applies (`Output.table`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

from atai_cli.output.formats import cell, duration, local_time, relative_time

GAP = 3  # a Rich SIMPLE_HEAD table without edges puts 3 columns between two cells
TEXT_MIN = 10  # a free-text column is worth showing only with this much of it
PREFERRED = 20  # enough of a free-text column to read it, before less useful columns get room

# How much each known column is worth keeping (higher stays longer). A table can declare its
# own with Column(priority=...); a column not named here ranks by position, later ones first.
# The first column of a table is its subject (an id) and is never dropped.
PRIORITY: dict[str, int] = {
    # session list (and list --watch, destroy's confirmation)
    "session_status": 95, "lens_id": 90, "session_duration_sec": 60, "num_outputs": 50,
    "last_update_timestamp": 30,
    # lens list
    "lens_name": 85, "output_channel": 60, "lens_status": 50, "lens_modifiable": 20,
    # files list
    "file_status": 70, "created_timestamp": 60, "num_bytes": 50, "file_type": 40,
}
DEFAULT_PRIORITY = 45


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: str = "text"  # text | time | duration | status
    priority: int | None = None

    @property
    def is_id(self) -> bool:
        """Ids are never cut: a copied id must be the id."""
        return self.header == "ID" or self.header.endswith(" ID") or self.kind == "id"

    def render(self, row: dict) -> str:
        """The full value, as off a terminal (local times)."""
        value = row.get(self.key)
        if self.kind == "time":
            return local_time(value)
        if self.kind == "duration":
            return duration(value)
        if self.kind == "status":
            from atai_cli.protocol.status import short_status

            return short_status(value) if value is not None else "-"
        return cell(value)

    def render_short(self, row: dict, now: float) -> str:
        """The value for a terminal: times relative and short (`5m ago`)."""
        if self.kind == "time":
            return relative_time(row.get(self.key), now)
        return self.render(row)


@dataclass(frozen=True)
class Spec:
    """What `fit` needs to know of one column: the width it would like, the least it can do
    with, and whether it may be cut (ids may not) or dropped (the subject may not)."""

    header: str
    natural: int
    minimum: int
    priority: float
    keep: bool = False  # never dropped


def fit(specs: Sequence[Spec], width: int, gap: int = GAP) -> list[tuple[int, int]] | None:
    """The columns shown, as (index, width) in table order; None when even the columns that
    are never dropped do not fit (the caller shows those alone, one per line)."""
    def needed(indexes: list[int]) -> int:
        return sum(specs[i].minimum for i in indexes) + gap * max(0, len(indexes) - 1)

    shown = [i for i, spec in enumerate(specs) if spec.keep]
    if needed(shown) > width:
        return None
    # The most useful first: each at a readable width when that fits, else at its least; the
    # first that does not fit even at its least ends the list, and every less useful one is
    # left out with it. A narrower, less useful column could fill the gap, but then widening
    # the terminal would hide it again once the wider one fits: columns must only appear as
    # the terminal widens. Between equals, the one further left wins.
    ranked = sorted((i for i, spec in enumerate(specs) if not spec.keep), key=lambda i: (-specs[i].priority, i))
    wanted = {i: specs[i].minimum for i in shown}
    for i in ranked:
        spec = specs[i]
        for size in (min(spec.natural, max(spec.minimum, PREFERRED)), spec.minimum):
            trial = {**wanted, i: size}
            if sum(trial.values()) + gap * (len(trial) - 1) <= width:
                wanted = trial
                break
        else:
            break
    shown = sorted(wanted)
    widths = dict(wanted)
    spare = width - sum(widths.values()) - gap * (len(shown) - 1)
    # What is left goes to the squeezed columns, the most useful first.
    for i in sorted(shown, key=lambda i: (not specs[i].keep, -specs[i].priority, i)):
        extra = min(spare, specs[i].natural - widths[i])
        if extra > 0:
            widths[i] += extra
            spare -= extra
    return [(i, widths[i]) for i in shown]


def content_specs(columns: Sequence[Column], cells: list[list[str]]) -> list[Spec]:
    """Specs for a table of known rows: each column as wide as its widest cell."""
    from rich.cells import cell_len

    specs = []
    for index, column in enumerate(columns):
        natural = max([cell_len(column.header), *(cell_len(row[index]) for row in cells)])
        if column.is_id or column.kind != "text":
            minimum = natural  # ids, times, durations and statuses are whole or absent
        else:
            minimum = min(natural, max(cell_len(column.header), TEXT_MIN))
        priority = column.priority if column.priority is not None else PRIORITY.get(column.key)
        if priority is None:
            priority = DEFAULT_PRIORITY - index / 100
        specs.append(Spec(column.header, natural, minimum, priority, keep=index == 0))
    return specs


def rich_table(headers: Sequence[str], widths: Sequence[int], rows: Sequence[Sequence[Any]], *,
               justify: Sequence[str] | None = None, title: str | None = None):
    """A Rich table whose every column has exactly its given width and one line per row."""
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1), header_style="bold",
                  title=title, title_justify="left", title_style="bold")
    for index, (header, width) in enumerate(zip(headers, widths)):
        table.add_column(header, width=width, min_width=width, max_width=width, no_wrap=True, overflow="ellipsis",
                         justify=(justify[index] if justify else "left"))  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*row)
    return table


def terminal_table(rows: list[dict], columns: Sequence[Column], width: int, *, title: str | None = None,
                   now: float | None = None, fold: bool = False):
    """Rows as a Rich renderable that fits `width`: the table, or the ids alone. With `fold`
    (a live display, which crops what it draws) an id too long for the line is folded onto the
    next, whole; else it is printed whole for the terminal to fold (so a copy of it is one)."""
    from rich.console import Group
    from rich.text import Text

    now = time.time() if now is None else now
    cells = [[column.render_short(row, now) for column in columns] for row in rows]
    layout = fit(content_specs(columns, cells), width)
    if layout is None:
        lines = [Text(row[0], overflow="fold") if fold else Text(row[0], no_wrap=True, overflow="ignore")
                 for row in cells]
        return Group(*([Text(title, style="bold")] if title else []), *lines)
    indexes = [i for i, _ in layout]
    return rich_table([columns[i].header for i in indexes], [w for _, w in layout],
                      [[row[i] for i in indexes] for row in cells], title=title)
