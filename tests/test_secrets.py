"""The API key never appears in any output: every command, every mode, --debug included,
and every command still does what it should (the exit code says so)."""

from __future__ import annotations

import json

import pytest

from atai_cli.emulator.catalog import CAMERA_LENS_ID, MAILBOX_LENS_ID, SSE_LENS_ID
from conftest import SAMPLE_CSV


@pytest.fixture
def world(emu, tmp_path):
    emu.configure(idle_timeout_s=0.3)
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    image = tmp_path / "frame.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n png")
    lens_file = tmp_path / "lens.json"
    lens_file.write_text('{"lens_name": "leak check", "lens_config": {}}')
    changes = tmp_path / "changes.json"
    changes.write_text('{"focus": "forklifts"}')
    return {
        "sse": emu.running_session(SSE_LENS_ID),
        "mailbox": emu.running_session(MAILBOX_LENS_ID),
        "camera": emu.running_session(CAMERA_LENS_ID),
        "image": str(image),
        "lens_file": str(lens_file),
        "changes": str(changes),
        "csv": str(SAMPLE_CSV),
    }


# (command, exit code): each one really runs, so a leak anywhere on its path would show.
COMMANDS = [
    (["lens", "list"], 0), (["lens", "show", SSE_LENS_ID], 0), (["lens", "register", "{lens_file}"], 0),
    (["lens", "clone", CAMERA_LENS_ID], 0),
    (["lens", "modify", CAMERA_LENS_ID, "{changes}"], 1),  # built in: the server refuses (409)
    (["session", "create", SSE_LENS_ID], 0), (["session", "create", SSE_LENS_ID, "-q"], 0), (["session", "list"], 0),
    (["session", "status", "{sse}"], 0), (["session", "validate", "{sse}"], 0),
    (["session", "modify", "{camera}", "--set", "focus=x"], 0),
    (["stream", "set", "{mailbox}", "--type", "csv_file_reader", "--file-id", "sample.csv"], 0),
    (["stream", "output", "{camera}"], 0),
    (["query", "{camera}", "--image", "{image}"], 0), (["read", "{mailbox}"], 0),
    (["files", "upload", "{csv}"], 0), (["files", "list"], 0),
    (["tail", "{sse}", "--timeout", "5"], 0), (["tail", "{sse}", "--meta", "--envelope", "--timeout", "5"], 0),
    (["tail", "{mailbox}", "--client-id", "leak-check", "--max-events", "1", "--timeout", "5"], 0),
    (["session", "status", "lsn-missing"], 4), (["session", "destroy", "{sse}"], 0),
]


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
def test_no_command_prints_the_key(cli, emu, world, debug, json_mode):
    for command, code in COMMANDS:
        args = [part.format(**world) for part in command]
        if json_mode and args[0] not in ("tail", "read") and "-q" not in args:
            args.append("--json")
        if debug:
            args.insert(0, "--debug")
        result = cli(*args)
        assert result.exit_code == code, (args, result.stderr)
        assert emu.api_key not in result.stdout, args
        assert emu.api_key not in result.stderr, args
    if debug:
        assert "Authorization: Bearer ***" in result.stderr  # the trace ran, and masked the key


def test_session_records_show_the_key_masked(cli, emu, world):
    record = json.loads(cli("session", "status", world["sse"], "--json").stdout)
    assert record["api_key"] == "***"
    created = json.loads(cli("session", "create", SSE_LENS_ID, "--json").stdout)
    assert created["api_key"] == "***"
    human = cli("session", "status", world["sse"], tty=True).stdout
    assert "api_key" in human and "***" in human


def test_a_wrong_key_is_not_echoed_either(cli, emu):
    wrong = "sk-distinctive-wrong-key-0123456789"
    for args in (["--api-key", wrong, "lens", "list"], ["--debug", "--api-key", wrong, "session", "status", "lsn-x"]):
        result = cli(*args)
        assert result.exit_code == 3
        assert wrong not in result.stdout + result.stderr
