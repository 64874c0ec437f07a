"""Settings precedence, login/logout, config show/set/path/profiles, doctor."""

from __future__ import annotations

import json
import os
import stat

from atai_cli.settings import config_path, load_settings, read_config, write_config


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_precedence_flag_env_file_default(emu, monkeypatch):
    write_config({"default": {"api_endpoint": "http://file", "timeout": 7}, "other": {"api_endpoint": "http://other"}})
    monkeypatch.delenv("ATAI_API_ENDPOINT")
    assert load_settings({}, "default").api_endpoint == "http://file"
    assert load_settings({}, "default").timeout == 7
    assert load_settings({}, "default").max_retries == 4  # default
    assert load_settings({}, "other").api_endpoint == "http://other"
    monkeypatch.setenv("ATAI_API_ENDPOINT", "http://env")
    assert load_settings({}, "default").api_endpoint == "http://env"
    assert load_settings({"api_endpoint": "http://flag"}, "default").api_endpoint == "http://flag"


def test_profile_from_env(cli, emu, monkeypatch):
    write_config({"staging": {"api_endpoint": "http://staging.example"}})
    monkeypatch.setenv("ATAI_PROFILE", "staging")
    monkeypatch.delenv("ATAI_API_ENDPOINT")
    shown = json.loads(cli("config", "show", "--json").stdout)
    assert shown["profile"] == "staging"
    rows = {r["setting"]: r for r in shown["settings"]}
    assert rows["api_endpoint"] == {"setting": "api_endpoint", "value": "http://staging.example", "source": "file [staging]"}


def test_config_file_is_written_0600(emu):
    path = write_config({"default": {"api_key": "k"}})
    assert mode(path) == 0o600


def test_login_stores_the_key_0600_and_it_works(cli, emu, monkeypatch):
    key = emu.api_key
    monkeypatch.delenv("ATAI_API_KEY")
    result = cli("login", "--with-key", input=key + "\n")
    assert result.exit_code == 0, result.stderr
    assert key not in result.stdout + result.stderr
    assert read_config()["default"]["api_key"] == key
    assert mode(config_path()) == 0o600
    assert cli("lens", "list", "--json").exit_code == 0  # the stored key is used
    assert cli("logout").exit_code == 0
    assert "api_key" not in read_config()["default"]
    assert cli("lens", "list").exit_code == 3


def test_login_rejects_a_wrong_key_and_stores_nothing(cli, emu):
    result = cli("login", "--with-key", input="wrong-key\n")
    assert result.exit_code == 3 and "401" in result.stderr
    assert not config_path().exists() or "api_key" not in (read_config().get("default") or {})


def test_login_into_a_named_profile_with_endpoint(cli, emu, monkeypatch):
    monkeypatch.delenv("ATAI_API_ENDPOINT")
    result = cli("--profile", "local", "--endpoint", emu.endpoint, "login", "--with-key", input=emu.api_key)
    assert result.exit_code == 0, result.stderr
    assert read_config()["local"] == {"api_key": emu.api_key, "api_endpoint": emu.endpoint}
    profiles = cli("config", "profiles", "--json")
    assert {p["profile"] for p in json.loads(profiles.stdout)} >= {"local"}


def test_config_show_never_prints_the_key(cli, emu):
    for args in (["config", "show"], ["config", "show", "--json"], ["--debug", "config", "show"]):
        result = cli(*args)
        assert result.exit_code == 0
        assert emu.api_key not in result.stdout + result.stderr
    shown = {r["setting"]: r for r in json.loads(cli("config", "show", "--json").stdout)["settings"]}
    assert shown["api_key"] == {"setting": "api_key", "value": "***", "source": "env ATAI_API_KEY"}
    assert shown["timeout"]["source"] == "default"


def test_config_set_unset_path(cli, emu):
    assert cli("config", "set", "timeout", "12").exit_code == 0
    assert read_config()["default"]["timeout"] == 12
    assert cli("config", "set", "timeout", "soon").exit_code == 2
    assert cli("config", "set", "colour", "blue").exit_code == 2
    set_key = cli("config", "set", "api_key", "sk-secret-value-123")
    assert set_key.exit_code == 0 and "sk-secret-value-123" not in set_key.stdout + set_key.stderr
    assert cli("config", "unset", "timeout").exit_code == 0
    assert "timeout" not in read_config()["default"]
    assert cli("config", "path").stdout.strip() == str(config_path())
    assert mode(config_path()) == 0o600


def test_bad_config_file_is_a_clear_error(cli, emu):
    config_path().parent.mkdir(parents=True, exist_ok=True)
    config_path().write_text("[default\napi_key = ")
    result = cli("session", "list")
    assert result.exit_code == 2 and "not valid TOML" in result.stderr


def test_doctor_all_good(cli, emu):
    result = cli("doctor", "--json")
    assert result.exit_code == 0, result.stderr
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    assert all(c["ok"] for c in checks.values())
    assert {"api key accepted", "websocket path", "sse path"} <= set(checks)
    assert "✓ websocket path" in cli("doctor").stdout


def test_doctor_says_what_to_fix(cli, emu, monkeypatch):
    result = cli("--api-key", "wrong", "doctor")
    assert result.exit_code == 1 and "✗ api key accepted" in result.stdout and "ATAI_API_KEY" in result.stdout
    monkeypatch.delenv("ATAI_API_KEY")
    missing = cli("doctor")
    assert missing.exit_code == 1 and "atai login" in missing.stdout
