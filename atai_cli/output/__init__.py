"""The one output layer: commands hand over data, this renders it.

The mode is decided once per command, from --json and whether stdout is a terminal:
- "json": JSON on stdout (one document, or JSON lines for streams);
- "tty": Rich tables, records and the live views for a person;
- "plain": human output off a terminal (contract v2): tab-separated tables, one row per line,
  nothing truncated, no colour, so grep, cut and sort work.
stdout carries data only. Progress, hints, warnings and errors always go to stderr.
Everything structured is redacted here once more, whatever the caller did.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager, nullcontext
from functools import cached_property
from typing import Any, Callable, Iterator, Sequence, TextIO

from atai_cli.environment import isatty
from atai_cli.errors import StdoutClosed
from atai_cli.output.formats import cell, field_value, printable
from atai_cli.output.tables import Column, terminal_table

__all__ = ["Column", "Output"]
from atai_cli.protocol.redact import redact


class Output:
    def __init__(
        self,
        *,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        stdout_tty: bool | None = None,
        stderr_tty: bool | None = None,
        json_mode: bool = False,
        no_color: bool = False,
    ) -> None:
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.stdout_tty = isatty(self.stdout) if stdout_tty is None else stdout_tty
        self.stderr_tty = isatty(self.stderr) if stderr_tty is None else stderr_tty
        self.json_mode = json_mode
        self.no_color = no_color

    @classmethod
    def for_env(cls, env, json_mode: bool = False, no_color: bool = False) -> "Output":
        """NO_COLOR set to anything non-empty (no-color.org) counts like --no-color."""
        return cls(stdout=env.stdout, stderr=env.stderr, stdout_tty=env.stdout_isatty,
                   stderr_tty=env.stderr_isatty, json_mode=json_mode,
                   no_color=no_color or bool(env.get("NO_COLOR")))

    @property
    def mode(self) -> str:
        if self.json_mode:
            return "json"
        return "tty" if self.stdout_tty else "plain"

    @cached_property
    def console(self):
        return self._console(self.stdout, self.stdout_tty, soft_wrap=False)

    @cached_property
    def err_console(self):
        return self._console(self.stderr, self.stderr_tty, soft_wrap=True)

    def _console(self, stream: TextIO, tty: bool, *, soft_wrap: bool):
        """With colour off, Rich emits no style at all (color_system=None), so not one colour
        code reaches the terminal; the layout and box drawing are the same."""
        from rich.console import Console

        plain = self.no_color or not tty
        return Console(file=stream, highlight=False, soft_wrap=soft_wrap, force_terminal=tty, no_color=plain,
                       **({"color_system": None} if plain else {}))

    # -- data (stdout) ------------------------------------------------------------------
    def write(self, text: str) -> None:
        """Everything on stdout passes here: a closed pipe becomes StdoutClosed (exit 0)."""
        try:
            self.stdout.write(text)
            self.stdout.flush()
        except BrokenPipeError as exc:
            raise StdoutClosed() from exc

    def json(self, data: Any) -> None:
        self.write(json.dumps(redact(data), indent=2, default=str, ensure_ascii=False) + "\n")

    def text(self, line: str) -> None:
        self.write(line + "\n")

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

    def report(self, data: Any, message: str) -> None:
        """What a command found or would do: its data as JSON with --json, else a note on stderr."""
        if self.json_mode:
            self.json(data)
        elif message:
            self.info(message)

    def created(self, data: Any, message: str, ident: str, *, quiet: bool = False) -> None:
        """Something new with an id: the id alone with -q (for `$(...)`), JSON, or a ✓ line
        on stderr and the id on stdout."""
        if quiet:
            self.text(ident)
        elif self.json_mode:
            self.json(data)
        else:
            self.success(message)
            self.text(ident)

    def record(self, data: dict, *, title: str | None = None, fields: Sequence[str] | None = None) -> None:
        """One object: JSON; key/value lines (nested values as YAML) on a terminal; TSV off it."""
        data = redact(data)
        if self.json_mode:
            self.json(data)
            return
        keys = [k for k in (fields or data.keys()) if k in data]
        if self.mode == "plain":
            self.write("".join(f"{key}\t{cell(field_value(key, data[key]))}\n" for key in keys))
            return
        from rich.text import Text

        from atai_cli.output.records import record_lines

        rows = []
        for key in keys:
            value = data[key]
            if isinstance(value, (dict, list)) and value:
                rows.append((key, _yaml(value), True))
            else:
                rows.append((key, cell(field_value(key, value)), False))
        if title:
            self._print(Text(printable(title), style="bold", overflow="fold"))
        for line in record_lines(rows, self.console.size.width):
            self._print(line, crop=False)

    def table(self, rows: list[dict], columns: Sequence[Column], *, title: str | None = None,
              empty: str = "nothing to show", document: Any = None) -> None:
        """Rows as a table; with --json the rows (or `document`, when the JSON has more to say)."""
        rows = redact(rows)
        if self.json_mode:
            self.json(rows if document is None else document)
            return
        if not rows:
            self.info(empty)
            return
        if self.mode == "plain":
            lines = ["\t".join(c.header for c in columns)]
            lines += ["\t".join(c.render(row).replace("\t", " ") for c in columns) for row in rows]
            self.write("\n".join(lines) + "\n")
            return
        # Not cropped: a terminal narrower than an id gets the whole id, folded by the terminal.
        self._print(terminal_table(rows, columns, self.console.size.width, title=title), crop=False)

    def listing(self, rows: list[dict], columns: Sequence[Column], *, title: str) -> None:
        """A table for the person at the keyboard (what is about to happen): always on stderr,
        so stdout keeps only the command's data."""
        rows = redact(rows)
        if self.stderr_tty:
            try:
                self.err_console.print(terminal_table(rows, columns, self.err_console.size.width, title=title),
                                       crop=False)
            except (BrokenPipeError, ValueError):
                pass
            return
        widths = [max(len(c.header), *(len(c.render(r)) for r in rows)) for c in columns]
        lines = [title, "  " + "  ".join(c.header.ljust(w) for c, w in zip(columns, widths))]
        lines += ["  " + "  ".join(c.render(r).ljust(w) for c, w in zip(columns, widths)) for r in rows]
        for line in lines:
            self.line(line.rstrip())

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
            self._print(line, markup=True)

    def _print(self, renderable: Any, **kwargs: Any) -> None:
        try:
            self.console.print(renderable, **kwargs)
        except BrokenPipeError as exc:
            raise StdoutClosed() from exc

    def jsonl(self, *, batched: bool = False):
        from atai_cli.output.jsonl import JsonLinesWriter

        return JsonLinesWriter(self.stdout, batched=batched)

    # -- messages (stderr) --------------------------------------------------------------
    def _err(self, markup: str) -> None:
        try:
            self.err_console.print(markup, markup=True, highlight=False)
        except (BrokenPipeError, ValueError):
            pass  # nobody is reading stderr any more: messages are best effort

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
        if not hint:
            return
        if not self.stderr_tty or "\n" not in hint:
            self._err(f"[dim]hint: {escape(hint)}[/]")
            return
        # A hint of several lines on a terminal: its prose wraps at words; an indented line is a
        # command to copy, printed whole (the terminal folds it only if it must).
        for index, line in enumerate(hint.splitlines()):
            text = f"hint: {line}" if index == 0 else line
            try:
                self.err_console.print(f"[dim]{escape(text)}[/]", markup=True, highlight=False,
                                       soft_wrap=line.startswith("  "))
            except (BrokenPipeError, ValueError):
                return

    def line(self, message: str) -> None:
        """A plain stderr line with no decoration (`+ SID`, `- SID reason`, delivery lines)."""
        try:
            self.stderr.write(printable(message) + "\n")
            self.stderr.flush()
        except (BrokenPipeError, ValueError):
            pass

    def trace(self, line: str) -> None:
        """--debug traffic, already redacted by the client."""
        self.line(f"[debug] {line}")

    def confirm(self, question: str, interactive: bool) -> bool:
        """Ask on a terminal; False when nobody can answer."""
        if not interactive:
            return False
        from rich.prompt import Confirm

        return Confirm.ask(question, console=self.err_console, default=False)

    # -- progress (stderr, terminals only) ----------------------------------------------
    def spinner(self, message: str):
        if not self.stderr_tty:
            return nullcontext(None)
        return self.err_console.status(message)

    @contextmanager
    def progress(self, description: str, total: int) -> Iterator[Callable[..., None]]:
        """Yields update(done) -> None; a Rich bar on a terminal, nothing on a pipe."""
        if not self.stderr_tty:
            yield lambda done, total=None: None
            return
        from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

        with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                      TransferSpeedColumn(), console=self.err_console, transient=True) as bar:
            task = bar.add_task(description, total=total)
            yield lambda done, total=None: bar.update(task, completed=done)


def _yaml(value: Any) -> str:
    import yaml

    return printable_block(yaml.safe_dump(value, sort_keys=False, default_flow_style=False, allow_unicode=True).rstrip())


def printable_block(text: str) -> str:
    return "\n".join(printable(line) for line in text.splitlines())
