"""Typer with atai's help conventions: usage lines that read `atai tail [OPTIONS] SESSION_ID...`,
and on/off flags shown without a `<bool>` value they do not take."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup


def _argument_pieces(command, ctx) -> list[str]:
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if param.param_type_name != "argument":
            continue
        name = (param.metavar or param.name or "ARG").upper()
        if param.nargs != 1 and not name.endswith("..."):
            name += "..."
        pieces.append(name if param.required else f"[{name}]")
    return pieces


def _no_type_labels(ctx) -> None:
    return None


def _quiet_flags(params: list) -> list:
    for param in params:
        if param.param_type_name == "option" and getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""  # Typer would show <bool>, as if the flag took a value
        elif param.param_type_name == "argument":
            param.display_type_rich = _no_type_labels  # SESSION_ID says what it is; <str> adds nothing
    return params


class AtaiCommand(TyperCommand):
    def get_params(self, ctx):
        return _quiet_flags(super().get_params(ctx))

    def collect_usage_pieces(self, ctx) -> list[str]:
        return _argument_pieces(self, ctx)


class AtaiGroup(TyperGroup):
    def get_params(self, ctx):
        return _quiet_flags(super().get_params(ctx))

    def collect_usage_pieces(self, ctx) -> list[str]:
        return [*_argument_pieces(self, ctx), self.subcommand_metavar]


class AtaiTyper(typer.Typer):
    """typer.Typer whose groups and commands use the classes above."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("cls", AtaiGroup)
        kwargs.setdefault("no_args_is_help", True)
        kwargs.setdefault("pretty_exceptions_enable", False)
        super().__init__(*args, **kwargs)

    def command(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("cls", AtaiCommand)
        return super().command(*args, **kwargs)
