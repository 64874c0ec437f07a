"""Sessions in bulk (issue 10): destroy by selector, confirmation rules, list --watch."""

from __future__ import annotations

import json
import time

import pytest

from atai_cli.emulator.catalog import CAMERA_LENS_ID, MAILBOX_LENS_ID, SSE_LENS_ID
from conftest import atai_process


def alive(emu) -> set[str]:
    return {sid for sid, s in emu.server.state.sessions.items() if not s.destroyed}


def test_destroy_by_lens_leaves_the_others(cli, emu):
    sse = {emu.running_session(SSE_LENS_ID) for _ in range(3)}
    other = emu.running_session(MAILBOX_LENS_ID)
    result = cli("session", "destroy", "--lens", SSE_LENS_ID, "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert {r["session_id"] for r in json.loads(result.stdout)} == sse
    assert alive(emu) == {other}
    assert "3 sessions to destroy" in result.stderr


def test_destroy_all_many_at_once(cli, emu):
    for _ in range(40):
        with emu.api() as api:
            api.create_session(SSE_LENS_ID)
    result = cli("session", "destroy", "--all", "--yes")
    assert result.exit_code == 0, result.stderr
    assert alive(emu) == set() and result.stderr.count("destroyed lsn-") == 40


def test_older_than_and_idle_select_by_age_and_quiet(cli, emu):
    old = emu.running_session(SSE_LENS_ID)
    emu.session(old).registration_timestamp -= 7200
    emu.session(old).last_update_timestamp -= 7200
    young = emu.running_session(SSE_LENS_ID)
    dry = cli("session", "destroy", "--older-than", "1h", "--dry-run", "--json")
    assert dry.exit_code == 0 and [r["session_id"] for r in json.loads(dry.stdout)] == [old]
    assert alive(emu) == {old, young}  # a dry run destroys nothing
    idle = cli("session", "destroy", "--idle", "30m", "--lens", SSE_LENS_ID, "--yes")
    assert idle.exit_code == 0 and alive(emu) == {young}
    assert "no session matches" in cli("session", "destroy", "--older-than", "1d", "--yes").stderr


def test_selectors_need_yes_without_a_terminal(cli, emu):
    sid = emu.running_session(SSE_LENS_ID)
    result = cli("session", "destroy", "--all")
    assert result.exit_code == 2 and "--yes" in result.stderr
    assert alive(emu) == {sid}


def test_on_a_terminal_it_lists_and_asks(cli, emu):
    sid = emu.running_session(SSE_LENS_ID)
    refused = cli("session", "destroy", "--all", input="n\n", tty=True)
    assert refused.exit_code == 1 and sid in refused.stderr and alive(emu) == {sid}
    agreed = cli("session", "destroy", "--all", input="y\n", tty=True)
    assert agreed.exit_code == 0 and alive(emu) == set()


@pytest.mark.parametrize("args,needle", [
    (["--older-than", "5x"], "90s, 30m, 2h or 1d"),
    (["lsn-1", "--all"], "not both"),
    ([], "nothing to destroy"),
])
def test_bad_selectors_are_usage_errors(cli, emu, args, needle):
    result = cli("session", "destroy", *args)
    assert result.exit_code == 2 and needle in result.stderr


def test_an_unknown_lens_is_not_found(cli, emu):
    assert cli("session", "destroy", "--lens", "lns-nope", "--yes").exit_code == 4


def test_each_failure_is_reported_and_the_rest_destroyed(cli, emu):
    good = emu.running_session(SSE_LENS_ID)
    result = cli("session", "destroy", good, "lsn-missing")
    assert result.exit_code == 4
    assert "lsn-missing" in result.stderr and f"destroyed {good}" in result.stderr
    assert "1 of 2 sessions could not be destroyed" in result.stderr


def test_destroying_a_destroyed_session_says_so(cli, emu):
    sid = emu.running_session(CAMERA_LENS_ID)
    assert cli("session", "destroy", sid).exit_code == 0
    again = cli("session", "destroy", sid)
    assert again.exit_code == 0 and "already destroyed" in again.stderr


def test_list_watch_prints_changes_as_json_lines(emu):
    first = emu.running_session(SSE_LENS_ID)
    watch = atai_process(emu, "session", "list", "--watch", "--interval", "0.1")
    added = json.loads(watch.stdout.readline())
    assert added["change"] == "added" and added["session"]["session_id"] == first
    second = emu.running_session(MAILBOX_LENS_ID)
    with emu.api() as api:
        api.destroy_session(first)
    changes = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not {("added", second), ("removed", first)} <= {(c["change"], c["session"]["session_id"]) for c in changes}:
        changes.append(json.loads(watch.stdout.readline()))
    watch.terminate()
    watch.wait(timeout=10)
    assert ("added", second) in {(c["change"], c["session"]["session_id"]) for c in changes}
    assert ("removed", first) in {(c["change"], c["session"]["session_id"]) for c in changes}
    assert all(c["session"].get("api_key") in (None, "***") for c in changes)
