"""The API key never appears in any output: every command, every mode, --debug included."""

from __future__ import annotations

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
    return {
        "sse": emu.running_session(SSE_LENS_ID),
        "mailbox": emu.running_session(MAILBOX_LENS_ID),
        "camera": emu.running_session(CAMERA_LENS_ID),
        "image": str(image),
        "lens_file": str(lens_file),
        "csv": str(SAMPLE_CSV),
    }


COMMANDS = [
    ["lens", "list"], ["lens", "show", SSE_LENS_ID], ["lens", "register", "{lens_file}"],
    ["lens", "clone", CAMERA_LENS_ID],
    ["session", "create", SSE_LENS_ID], ["session", "create", SSE_LENS_ID, "-q"], ["session", "list"],
    ["session", "status", "{sse}"], ["session", "validate", "{sse}"],
    ["session", "modify", "{camera}", "--set", "focus=x"],
    ["stream", "set", "{mailbox}", "--type", "csv_file_reader", "--file-id", "sample.csv"],
    ["stream", "output", "{camera}"],
    ["query", "{camera}", "--image", "{image}"], ["read", "{mailbox}"],
    ["files", "upload", "{csv}"], ["files", "list"],
    ["tail", "{sse}", "--timeout", "2"], ["tail", "{sse}", "--meta", "--envelope", "--timeout", "2"],
    ["tail", "{mailbox}", "--max-events", "1", "--timeout", "0.5"],
    ["session", "status", "lsn-missing"], ["session", "destroy", "{sse}"],
]


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
@pytest.mark.parametrize("json_mode", [False, True], ids=["human", "json"])
def test_no_command_prints_the_key(cli, emu, world, debug, json_mode):
    for command in COMMANDS:
        args = [part.format(**world) for part in command]
        if json_mode and args[0] not in ("tail",) and "-q" not in args:
            args.append("--json")
        if debug:
            args.insert(0, "--debug")
        result = cli(*args)
        assert emu.api_key not in result.stdout, args
        assert emu.api_key not in result.stderr, args
        if debug and args[1] == "session" and args[2] == "status" and result.exit_code == 0:
            assert '"api_key": "***"' in result.stdout or "api_key" in result.stdout


def test_a_wrong_key_is_not_echoed_either(cli, emu):
    wrong = "sk-distinctive-wrong-key-0123456789"
    for args in (["--api-key", wrong, "lens", "list"], ["--debug", "--api-key", wrong, "session", "status", "lsn-x"]):
        result = cli(*args)
        assert result.exit_code == 3
        assert wrong not in result.stdout + result.stderr
