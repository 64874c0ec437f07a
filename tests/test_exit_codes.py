"""Exit codes come from one table (errors.ExitCode), README says the same, and an error that
sums up several failures takes the code they share."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from atai_cli.errors import (
    ApiError, AtaiError, AuthError, ExitCode, Interrupted, NotFoundError, OperationTimeout, ServerTimeout,
    SomeFailed, Terminated, UsageError,
)
from atai_cli.main import describe

ROOT = Path(__file__).resolve().parents[1]


def test_readme_table_is_the_exit_code_table():
    section = ROOT.joinpath("README.md").read_text().split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    listed = {int(code) for code in re.findall(r"^\| (\d+) \|", section, flags=re.M)}
    assert listed == {int(code) for code in ExitCode}


@pytest.mark.parametrize("error, code", [
    (AtaiError("x"), 1), (UsageError("x"), 2), (AuthError("x"), 3), (NotFoundError("x"), 4),
    (OperationTimeout("x"), 5), (ServerTimeout("x"), 5), (Interrupted("x"), 130), (Terminated("x"), 143),
])
def test_each_kind_has_its_code(error, code):
    assert describe(error)[2] == code
    assert type(describe(error)[2]) is int


def test_terminated_is_an_interruption_with_its_own_code():
    assert isinstance(Terminated("terminated after 3 events"), Interrupted)
    assert Interrupted("x").exit_code == ExitCode.INTERRUPTED  # never changed by a Terminated


def test_some_failed_takes_the_code_the_failures_share():
    assert SomeFailed("2 of 2 failed", [NotFoundError("a"), NotFoundError("b")]).exit_code == 4
    assert SomeFailed("2 of 3 failed", [NotFoundError("a"), AuthError("b")]).exit_code == 1
    assert SomeFailed("1 of 3 failed", [ApiError("a")]).exit_code == 1


def test_destroying_several_unknown_sessions_is_not_found(cli, emu):
    result = cli("session", "destroy", "lsn-missing-1", "lsn-missing-2")
    assert result.exit_code == 4
    assert "2 of 2 sessions could not be destroyed" in result.stderr


def test_destroy_failures_are_not_rewritten(cli, emu, monkeypatch):
    """The summary is a new error: the failures it sums up keep their own message and hint."""
    from atai_cli.client import selection

    seen = []
    original = selection.destroy_many

    def destroy_many(api, ids, **kwargs):
        for result in original(api, ids, **kwargs):
            if result.error is not None:
                seen.append((result.error, result.error.message))
            yield result

    monkeypatch.setattr(selection, "destroy_many", destroy_many)
    result = cli("session", "destroy", "lsn-missing-1", "lsn-missing-2")
    assert result.exit_code == 4 and len(seen) == 2
    assert all(error.message == message and "could not be destroyed" not in message for error, message in seen)


def test_a_usage_error_from_typer_is_the_usage_code(cli, emu):
    assert cli("session", "list", "--no-such-flag").exit_code == ExitCode.USAGE


def test_main_leaves_the_process_environment_alone(cli, emu):
    before = dict(os.environ)
    assert cli("session", "list", "--json").exit_code == 0
    assert dict(os.environ) == before
