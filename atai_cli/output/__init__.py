"""The one output layer: commands hand over data, this renders it.

stdout carries data only: Rich tables and panels on a terminal, JSON with --json (or JSON
lines for streams). Progress, hints, warnings and errors always go to stderr. Everything
structured is redacted here once more, whatever the caller did.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from functools import cached_property
from typing import Any, Iterator, Sequence, TextIO

from atai_cli.protocol.redact import redact

Column = tuple[str, str]  # (key in the row, header)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1e6 else f"{value:.0f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


class Output:
    def __init__(self, json_mode: bool = False, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.json_mode = json_mode
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    # -- terminals ----------------------------------------------------------------------
    @staticmethod
    def _isatty(stream: TextIO) -> bool:
        try:
            return stream.isatty()
        except (AttributeError, ValueError):
            return False

    @property
    def stdout_tty(self) -> bool:
        return self._isatty(self.stdout)

    @property
    def stderr_tty(self) -> bool:
        return self._isatty(self.stderr)

    @cached_property
    def console(self):
        from rich.console import Console

        return Console(file=self.stdout, highlight=False, soft_wrap=False)

    @cached_property
    def err_console(self):
        from rich.console import Console

        return Console(file=self.stderr, highlight=False, soft_wrap=True)

    # -- data (stdout) ------------------------------------------------------------------
    def json(self, data: Any) -> None:
        self.stdout.write(json.dumps(redact(data), indent=2, default=str) + "\n")
        self.stdout.flush()

    def text(self, line: str) -> None:
        self.stdout.write(line + "\n")
        self.stdout.flush()

    def result(self, data: Any, human: str) -> None:
        """A single value: JSON with --json, else the human line (an id, an answer)."""
        if self.json_mode:
            self.json(data)
        else:
            self.text(human)

    def done(self, data: Any, message: str) -> None:
        """The outcome of an action: its data as JSON with --json, else a ✓ line on stderr."""
        if self.json_mode:
            self.json(data)
        else:
            self.success(message)

    def record(self, data: dict, title: str | None = None, fields: Sequence[str] | None = None) -> None:
        data = redact(data)
        if self.json_mode:
            self.json(data)
            return
        from rich.table import Table

        table = Table(title=title, show_header=False, box=None, pad_edge=False, title_justify="left")
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column(overflow="fold")
        for key in fields or data.keys():
            if key in data:
                table.add_row(key, _cell(data[key]))
        self.console.print(table)

    def table(self, rows: list[dict], columns: Sequence[Column], *, title: str | None = None, empty: str = "nothing to show") -> None:
        rows = redact(rows)
        if self.json_mode:
            self.json(rows)
            return
        if not rows:
            self.info(empty)
            return
        from rich.table import Table

        table = Table(title=title, title_justify="left", header_style="bold")
        for _, header in columns:
            table.add_column(header, overflow="fold", no_wrap=header.endswith("ID"))
        for row in rows:
            table.add_row(*(_cell(row.get(key)) for key, _ in columns))
        self.console.print(table)

    def checklist(self, checks: list[dict]) -> None:
        """Rows of {check, ok, detail, fix?}: JSON, or one ✓/✗ line each with what to fix."""
        if self.json_mode:
            self.json(checks)
            return
        from rich.markup import escape

        for c in checks:
            mark = "[green]✓[/]" if c["ok"] else "[red]✗[/]"
            line = f"{mark} {escape(str(c['check']))}: {escape(str(c['detail']))}"
            if c.get("fix"):
                line += f"\n  [dim]fix: {escape(str(c['fix']))}[/]"
            self.console.print(line, highlight=False, markup=True)

    # -- messages (stderr) --------------------------------------------------------------
    def _err(self, markup: str) -> None:
        self.err_console.print(markup, markup=True, highlight=False)

    def info(self, message: str) -> None:
        from rich.markup import escape

        self._err(f"[dim]{escape(message)}[/]")

    def success(self, message: str) -> None:
        from rich.markup import escape

        self._err(f"[green]✓[/] {escape(message)}")

    def warn(self, message: str) -> None:
        from rich.markup import escape

        self._err(f"[yellow]warning:[/] {escape(message)}")

    def error(self, message: str, hint: str | None = None) -> None:
        from rich.markup import escape

        self._err(f"[bold red]error:[/] {escape(message)}")
        if hint:
            self._err(f"[dim]hint: {escape(hint)}[/]")

    def trace(self, line: str) -> None:
        """--debug traffic, already redacted by the client."""
        self.stderr.write(f"[debug] {line}\n")
        self.stderr.flush()

    # -- progress (stderr, terminals only) ----------------------------------------------
    @contextmanager
    def spinner(self, message: str) -> Iterator[Any]:
        if not self.stderr_tty:
            yield None
            return
        with self.err_console.status(message) as status:
            yield status

    @contextmanager
    def progress(self, description: str, total: int) -> Iterator[Any]:
        """Yields update(done, total) -> None; a Rich bar on a terminal, nothing on a pipe."""
        if not self.stderr_tty:
            yield lambda done, total=None: None
            return
        from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

        with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                      TransferSpeedColumn(), console=self.err_console, transient=True) as bar:
            task = bar.add_task(description, total=total)
            yield lambda done, total=None: bar.update(task, completed=done)
