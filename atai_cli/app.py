"""The Typer app: global options and the command groups. No error handling lives here: the
one boundary is atai_cli.main.

Start-up is part of the product (`atai session list` is run from scripts, in loops), so the
app is built per run with only the command being run: its module is imported and, in a group,
only the subcommand named is turned into a Click command (Typer builds every parameter of every
command it is given). A command line that names no known command gets every command as a
placeholder that carries its one-line help, for `atai --help` and "no such command". Shell
completion and the generated reference load them all.
"""

from __future__ import annotations

import copy
import importlib
from dataclasses import dataclass
from typing import Annotated, Optional, Sequence

import typer

from atai_cli import version_line
from atai_cli.commands.base import AtaiTyper
from atai_cli.state import AppState

HELP = "Operate Archetype AI lens sessions: create them, feed them, query them, and follow their output live."
# Global options that take a value: the command name is the first word that is neither.
VALUE_OPTIONS = frozenset({"--endpoint", "--api-key", "--profile"})


@dataclass(frozen=True)
class Entry:
    name: str
    module: str
    attribute: str
    group: bool
    summary: str  # the line `atai --help` shows; tests check it matches the command's own help


COMMANDS = (
    Entry("query", "atai_cli.commands.query", "query", False, "Ask the lens about an image and print the answer."),
    Entry("read", "atai_cli.commands.read", "read", False, "Read the messages waiting in a session's mailbox (one session.read)."),
    Entry("tail", "atai_cli.commands.tail", "tail", False, "Follow sessions' output live; never loses or repeats an event across reconnects."),
    Entry("run", "atai_cli.commands.run", "run", False, "Run a lens over one input and print its results, cleaning up after itself."),
    Entry("emulator", "atai_cli.commands.emulator", "emulator", False, "Run a local Lens API (REST, WebSocket and SSE on one port) for offline use and tests."),
    Entry("login", "atai_cli.commands.auth", "login", False, "Check an API key against the endpoint and store it in the profile (0600)."),
    Entry("logout", "atai_cli.commands.auth", "logout", False, "Remove the stored API key from the profile."),
    Entry("doctor", "atai_cli.commands.doctor", "doctor", False, "Check the endpoint, the key, and the WebSocket and SSE paths, and say what to fix."),
    Entry("lens", "atai_cli.commands.lens", "app", True, "Lenses: list and inspect them, register your own."),
    Entry("session", "atai_cli.commands.session", "app", True, "Lens sessions: create, inspect and destroy them."),
    Entry("stream", "atai_cli.commands.stream", "app", True, "Input and output streams of a session."),
    Entry("files", "atai_cli.commands.files", "app", True, "Files that input streams read (CSV, video, JSONL)."),
    Entry("config", "atai_cli.commands.config", "app", True, "Settings and profiles (config.toml, written 0600; comments and other keys are kept)."),
)


def _version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit()


def _global(
    ctx: typer.Context,
    endpoint: Annotated[Optional[str], typer.Option("--endpoint", metavar="URL", help="Lens API base URL (env ATAI_API_ENDPOINT).", show_default=False)] = None,
    api_key: Annotated[Optional[str], typer.Option("--api-key", metavar="KEY", help="API key (env ATAI_API_KEY).", show_default=False)] = None,
    profile: Annotated[Optional[str], typer.Option("--profile", metavar="NAME", help="Config profile (env ATAI_PROFILE).", show_default=False)] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show HTTP/WebSocket traffic (key redacted) and tracebacks.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colour in any output (as NO_COLOR=1 does).")] = False,
) -> None:
    state = ctx.obj if isinstance(ctx.obj, AppState) else AppState()
    state.endpoint, state.api_key, state.profile, state.debug = endpoint, api_key, profile, debug
    state.no_color = no_color
    ctx.obj = state


def command_words(argv: Sequence[str]) -> tuple[str | None, str | None]:
    """The command and the word after it (`atai --profile x session list -q` -> ("session",
    "list")); the second is None when the next word is an option (`atai session --help`)."""
    args = list(argv)
    index = 0
    while index < len(args):
        word = args[index]
        if word == "--":
            index += 1
            break
        if not word.startswith("-"):
            break
        index += 2 if word in VALUE_OPTIONS else 1
    if index >= len(args):
        return None, None
    after = args[index + 1] if index + 1 < len(args) else None
    return args[index], (None if after is None or after.startswith("-") else after)


def for_command_line(argv: Sequence[str], *, rich_help: bool = True) -> typer.Typer:
    """The app with only what this command line runs built (see the module's docstring)."""
    name, sub = command_words(argv)
    entry = next((e for e in COMMANDS if e.name == name), None)
    if entry is None:
        return build(None, rich_help=rich_help)
    return build(name, rich_help=rich_help, subcommand=sub if entry.group else None, others=False)


def build(load: str | Sequence[str] | None = None, *, rich_help: bool = True, subcommand: str | None = None,
          others: bool = True) -> typer.Typer:
    """The app with the named command(s) loaded ("*" for all) and the rest as placeholders
    (others=False: left out). subcommand: in a loaded group, build only that command when the
    group has it. rich_help=False formats help as plain text (off a terminal: no boxes to cut or
    grep through)."""
    mode = "rich" if rich_help else None
    app = AtaiTyper(name="atai", help=HELP, context_settings={"help_option_names": ["-h", "--help"]},
                    rich_markup_mode=mode)
    app.callback()(_global)
    wanted = {entry.name for entry in COMMANDS} if load == "*" else ({load} if isinstance(load, str) else set(load or ()))
    for entry in COMMANDS:
        if entry.name in wanted:
            target = getattr(importlib.import_module(entry.module), entry.attribute)
            if entry.group:
                target = _only(target, subcommand)
        elif not others:
            continue
        elif entry.group:
            target = AtaiTyper(help=entry.summary, rich_markup_mode=mode)
        else:
            app.command(entry.name, help=entry.summary)(_placeholder)
            continue
        if entry.group:
            target.rich_markup_mode = mode
            _set_markup(target, mode)
            app.add_typer(target, name=entry.name)
        else:
            app.command(entry.name)(target)
    return app


def _only(group: typer.Typer, subcommand: str | None) -> typer.Typer:
    """A copy of the group holding just the named command, or the whole group (a copy: the
    module's own group is shared by every build in the process) when it has no such command."""
    pruned = copy.copy(group)
    commands = [info for info in group.registered_commands if subcommand is not None and _command_name(info) == subcommand]
    groups = [info for info in group.registered_groups if subcommand is not None and info.name == subcommand]
    if commands or groups:
        pruned.registered_commands, pruned.registered_groups = commands, groups
    else:
        pruned.registered_commands, pruned.registered_groups = list(group.registered_commands), list(group.registered_groups)
    return pruned


def _command_name(info) -> str:
    return info.name or info.callback.__name__.replace("_", "-")


def _set_markup(group: typer.Typer, mode) -> None:
    for sub in group.registered_groups:
        sub.typer_instance.rich_markup_mode = mode
        _set_markup(sub.typer_instance, mode)


def _placeholder() -> None:  # pragma: no cover - only its help is ever shown
    raise typer.Exit(2)


def full_app(rich_help: bool = True) -> typer.Typer:
    return build("*", rich_help=rich_help)
