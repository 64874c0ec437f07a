"""Generated artefacts stay in sync with the app: the command reference and completion scripts.
Completion itself works, including live session ids, and never prints errors into the shell."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from atai_cli.emulator.catalog import SSE_LENS_ID

ROOT = Path(__file__).resolve().parents[1]


def load(script: str):
    spec = importlib.util.spec_from_file_location(script, ROOT / "scripts" / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_command_reference_is_current():
    committed = (ROOT / "docs" / "reference.md").read_text()
    assert load("gen_docs").render() == committed, "docs/reference.md is stale: run python scripts/gen_docs.py"


def test_reference_covers_every_command():
    text = (ROOT / "docs" / "reference.md").read_text()
    for command in ("atai tail", "atai run", "atai stream push", "atai session create", "atai lens register",
                    "atai files upload", "atai login", "atai config show", "atai doctor", "atai emulator"):
        assert f"## {command}\n" in text


def test_completion_scripts_are_current():
    gen = load("gen_completions")
    for shell, name in gen.FILES.items():
        assert gen.generate(shell) == (ROOT / "completions" / name).read_text(), f"completions/{name} is stale"


def complete_bash(words: str, env: dict) -> list[str]:
    parts = words.split(" ")
    result = subprocess.run(
        [sys.executable, "-m", "atai_cli"],
        env={**env, "_ATAI_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(parts) - 1)},
        capture_output=True, text=True, timeout=30,
    )
    assert result.stderr == ""
    return result.stdout.split()


def test_bash_completion_of_commands(emu):
    env = dict(os.environ)
    assert "session" in complete_bash("atai ses", env)
    assert {"create", "status", "destroy"} <= set(complete_bash("atai session ", env))


def test_live_session_and_lens_ids_complete(emu):
    session_id = emu.running_session(SSE_LENS_ID)
    env = dict(os.environ)
    assert session_id in complete_bash("atai session status lsn-", env)
    assert session_id in complete_bash("atai tail ", env)
    assert SSE_LENS_ID in complete_bash("atai session create lns-emulator-s", env)


def test_completion_stays_silent_when_the_server_is_unreachable(emu):
    env = {**os.environ, "ATAI_API_ENDPOINT": "http://127.0.0.1:1"}
    assert complete_bash("atai tail ", env) == []
    env_no_key = {k: v for k, v in os.environ.items() if k != "ATAI_API_KEY"}
    assert complete_bash("atai tail ", env_no_key) == []
