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


# -- bad input found by an adversarial review: each a one-line error and exit 2 --------------
@pytest.mark.parametrize("args", [
    ["session", "modify", "{sid}", "--set", "x=1e400"],
    ["session", "modify", "{sid}", "--config-json", '{"a": NaN}'],
    ["session", "modify", "{sid}", "--config-json", '{"a": 1e999}'],
    ["stream", "set", "{sid}", "--type", "rtsp_video_reader", "--rtsp-url", "rtsp://x", "--fps", "inf"],
    ["stream", "set", "{sid}", "--type", "rtsp_video_reader", "--rtsp-url", "rtsp://x", "--fps", "1e400"],
    ["tail", "{sid}", "--timeout", "1e309"],
    ["tail", "{sid}", "--since", "a\nb"],
    ["--endpoint", "http://[::1", "session", "list"],
    ["--endpoint", "http://127.0.0.1:99999", "session", "list"],
    ["--endpoint", "http://", "session", "list"],
    ["--profile", "", "session", "list"],
    ["--profile", "no-such-profile", "session", "list"],
])
def test_bad_values_are_usage_errors_not_unexpected_failures(cli, emu, args):
    from atai_cli.emulator.catalog import SSE_LENS_ID

    sid = emu.running_session(SSE_LENS_ID) if "{sid}" in args else ""
    result = cli(*[a.replace("{sid}", sid) for a in args])
    assert result.exit_code == 2, result.stderr
    assert "unexpected" not in result.stderr and "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 1


def test_nan_in_a_set_value_is_the_text_nan(cli, emu):
    from atai_cli.emulator.catalog import SSE_LENS_ID

    sid = emu.running_session(SSE_LENS_ID)
    from atai_cli.commands.inputs import parse_set

    assert parse_set(["label=NaN", "x=-Infinity", "n=1.5"]) == {"label": "NaN", "x": "-Infinity", "n": 1.5}
    result = cli("session", "modify", sid, "--set", "label=NaN")
    assert result.exit_code == 0, result.stderr


def test_a_nan_in_a_yaml_lens_file_is_refused_before_sending(cli, emu, tmp_path):
    lens = tmp_path / "lens.yaml"
    lens.write_text("lens_name: x\nlens_config:\n  threshold: .nan\n")
    result = cli("lens", "register", str(lens))
    assert result.exit_code == 2 and "NaN or Infinity" in result.stderr, result.stderr


def test_an_unreadable_lens_file_is_a_usage_error(emu, tmp_path):
    import shutil
    import subprocess
    import sys

    from conftest import subprocess_env

    lens = tmp_path / "lens.yaml"
    lens.write_text("lens_name: x\n")
    lens.chmod(0)
    command = [sys.executable, "-m", "atai_cli", "lens", "register", str(lens)]
    if os.geteuid() == 0:  # root reads any file: drop the capabilities that let it
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv")
        command = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=subprocess_env(emu))
    assert result.returncode == 2 and "permission denied" in result.stderr, result.stderr


def test_config_file_problems_say_what_is_wrong(cli, emu, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "atai").mkdir()
    (tmp_path / "atai" / "config.toml").mkdir()
    assert "is a directory" in cli("session", "list").stderr
    (tmp_path / "atai" / "config.toml").rmdir()
    (tmp_path / "atai" / "config.toml").write_text("default = 5\n")
    result = cli("session", "list")
    assert result.exit_code == 2 and "is not a profile table" in result.stderr
