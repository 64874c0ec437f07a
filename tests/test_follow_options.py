"""Every follow option's default is written once (pipeline/follow_options.py): tail's and run's
Typer parameters take theirs from it, and nothing scrapes a command's locals()."""

from __future__ import annotations

import ast
import inspect
from dataclasses import fields
from pathlib import Path

import pytest

from atai_cli.commands.run import run
from atai_cli.commands.tail import tail
from atai_cli.pipeline.follow_options import FOLLOW_DEFAULTS, FollowFlags, FollowOptions
from atai_cli.protocol.stops import StopReason

PACKAGE = Path(__file__).resolve().parents[1] / "atai_cli"


@pytest.mark.parametrize("command", [tail, run])
def test_typer_defaults_are_the_records(command):
    parameters = inspect.signature(command).parameters
    names = {f.name for f in fields(FollowFlags)} & set(parameters)
    assert {"heartbeat", "max_events", "forward_timeout", "record_append"} <= names
    for name in names:
        if command is run and name == "idle_exit":
            continue  # run's own help text; the default is still None
        assert parameters[name].default == getattr(FOLLOW_DEFAULTS, name), name


def test_the_defaults():
    assert (FOLLOW_DEFAULTS.heartbeat, FOLLOW_DEFAULTS.wait_running, FOLLOW_DEFAULTS.forward_timeout,
            FOLLOW_DEFAULTS.discover_interval) == (5.0, 60.0, 10.0, 5.0)


def test_the_fleet_options_are_resolved_from_the_flags():
    options = FollowOptions.resolve(FollowFlags(timeout=0, idle_exit=0), client_id="c1", shape="data")
    assert (options.timeout, options.idle_exit, options.wait_timeout) == (None, None, FOLLOW_DEFAULTS.wait_running)
    assert FollowOptions.resolve(FollowFlags(timeout=7), client_id="c1", shape="data").wait_timeout == 7


def test_no_module_reads_locals():
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "locals":
                pytest.fail(f"{path.relative_to(PACKAGE)} calls locals()")


def test_stop_reasons_read_as_their_words():
    assert f"{StopReason.TERMINATED} after 3 events" == "terminated after 3 events"
    assert StopReason("stdout closed") is StopReason.STDOUT_CLOSED
