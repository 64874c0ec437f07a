"""Settings precedence and validation, login/logout, config show/get/set/unset/path/profiles,
doctor; the config file keeps a person's comments and is always 0600."""

from __future__ import annotations

import json
import os
import stat

import pytest

from atai_cli.config_file import read_config, update_profile
from atai_cli.environment import Environment
from atai_cli.settings import load_settings


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def config_path():
    return Environment().config_path


def write_config(data: dict):
    for profile, table in data.items():
        update_profile(config_path(), profile, table)
    return config_path()


def settings(flags=None, profile="default"):
    return load_settings(flags or {}, profile, os.environ, config_path())


def test_precedence_flag_env_file_default(emu, monkeypatch):
    write_config({"default": {"api_endpoint": "http://file", "timeout": 7}, "other": {"api_endpoint": "http://other"}})
    monkeypatch.delenv("ATAI_API_ENDPOINT")
    assert settings().api_endpoint == "http://file"
    assert settings().timeout == 7
    assert settings().max_retries == 4  # default
    assert settings(profile="other").api_endpoint == "http://other"
    monkeypatch.setenv("ATAI_API_ENDPOINT", "http://env")
    assert settings().api_endpoint == "http://env"
    assert settings({"api_endpoint": "http://flag"}).api_endpoint == "http://flag"


def test_an_injected_environment_is_what_counts(emu, monkeypatch):
    monkeypatch.delenv("ATAI_API_ENDPOINT")
    injected = {"ATAI_API_ENDPOINT": "http://injected", "ATAI_TIMEOUT": "3"}
    resolved = load_settings({}, "default", injected, config_path())
    assert (resolved.api_endpoint, resolved.timeout) == ("http://injected", 3.0)


def test_profile_from_env(cli, emu, monkeypatch):
    write_config({"staging": {"api_endpoint": "http://staging.example"}})
    monkeypatch.setenv("ATAI_PROFILE", "staging")
    monkeypatch.delenv("ATAI_API_ENDPOINT")
    shown = json.loads(cli("config", "show", "--json").stdout)
    assert shown["profile"] == "staging"
    rows = {r["setting"]: r for r in shown["settings"]}
    assert rows["api_endpoint"] == {"setting": "api_endpoint", "value": "http://staging.example", "source": "file [staging]"}


def test_an_unknown_profile_is_a_usage_error_with_or_without_a_config_file(cli, emu):
    missing = cli("--profile", "nosuch", "lens", "list")  # no config file yet: the profile is not there either
    assert missing.exit_code == 2 and "there is no such file yet" in missing.stderr
    write_config({"default": {"timeout": 5}, "local": {"timeout": 6}})
    result = cli("--profile", "nosuch", "lens", "list")
    assert result.exit_code == 2
    assert "no profile 'nosuch'" in result.stderr and "default, local" in result.stderr
    assert cli("--profile", "nosuch", "config", "set", "timeout", "9").exit_code == 0  # set creates it
    assert read_config(config_path())["nosuch"] == {"timeout": 9.0}


def test_config_file_is_written_0600(emu):
    assert mode(write_config({"default": {"api_key": "k"}})) == 0o600


def test_config_set_keeps_comments_unknown_keys_and_other_profiles(cli, emu):
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('# my settings\n[default]\ntimeout = 5 # seconds\ncolour = "blue"\n\n[work]\n# the office\napi_endpoint = "http://work"\n')
    assert cli("config", "set", "max_retries", "2").exit_code == 0
    text = path.read_text()
    assert "# my settings" in text and "# seconds" in text and "# the office" in text
    assert 'colour = "blue"' in text and 'api_endpoint = "http://work"' in text
    assert read_config(path)["default"] == {"timeout": 5, "colour": "blue", "max_retries": 2}
    assert mode(path) == 0o600


@pytest.mark.parametrize("name,value", [
    ("max_retries", "1.5"), ("max_retries", "-3"), ("timeout", "0"), ("timeout", "soon"),
    ("api_endpoint", "ftp://x"), ("reconnect_give_up", "-1"), ("colour", "blue"),
])
def test_config_set_validates_before_writing(cli, emu, name, value):
    result = cli("config", "set", name, value)
    assert result.exit_code == 2, result.stderr
    assert "error:" in result.stderr and "Traceback" not in result.stderr
    assert not config_path().exists()


@pytest.mark.parametrize("variable,value", [("ATAI_TIMEOUT", "0"), ("ATAI_MAX_RETRIES", "many"), ("ATAI_API_ENDPOINT", "api.example")])
def test_bad_values_from_the_environment_are_stopped_at_the_door(cli, emu, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    result = cli("lens", "list")
    assert result.exit_code == 2 and variable in result.stderr


def test_login_stores_the_key_0600_and_it_works(cli, emu, monkeypatch):
    key = emu.api_key
    monkeypatch.delenv("ATAI_API_KEY")
    result = cli("login", "--with-key", input=key + "\n")
    assert result.exit_code == 0, result.stderr
    assert key not in result.stdout + result.stderr
    assert read_config(config_path())["default"]["api_key"] == key
    assert read_config(config_path())["default"]["api_endpoint"] == emu.endpoint  # it came from ATAI_API_ENDPOINT
    assert mode(config_path()) == 0o600
    assert cli("lens", "list", "--json").exit_code == 0  # the stored key is used
    assert cli("logout").exit_code == 0
    assert "api_key" not in read_config(config_path())["default"]
    assert cli("lens", "list").exit_code == 3


def test_login_rejects_a_wrong_key_and_stores_nothing(cli, emu):
    result = cli("login", "--with-key", input="wrong-key\n")
    assert result.exit_code == 3 and "401" in result.stderr
    assert "the key read from stdin was refused" in result.stderr
    assert not config_path().exists() or "api_key" not in (read_config(config_path()).get("default") or {})


def test_login_into_a_named_profile_with_endpoint(cli, emu, monkeypatch):
    monkeypatch.delenv("ATAI_API_ENDPOINT")
    result = cli("--profile", "local", "--endpoint", emu.endpoint, "login", "--with-key", input=emu.api_key)
    assert result.exit_code == 0, result.stderr
    assert read_config(config_path())["local"] == {"api_key": emu.api_key, "api_endpoint": emu.endpoint}
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


def test_the_forward_secret_is_made_once_masked_and_printed_only_by_get(cli, emu):
    first = cli("config", "get", "forward_secret")
    assert first.exit_code == 0 and len(first.stdout.strip()) == 64
    secret = first.stdout.strip()
    assert cli("config", "get", "forward_secret").stdout.strip() == secret  # created once, then kept
    assert mode(config_path()) == 0o600
    shown = cli("config", "show")
    assert secret not in shown.stdout + shown.stderr and "forward_secret" in shown.stdout
    assert cli("config", "get", "api_key").stdout.strip() == "***"


def test_config_set_unset_path(cli, emu):
    assert cli("config", "set", "timeout", "12").exit_code == 0
    assert read_config(config_path())["default"]["timeout"] == 12
    set_key = cli("config", "set", "api_key", "sk-secret-value-123")
    assert set_key.exit_code == 0 and "sk-secret-value-123" not in set_key.stdout + set_key.stderr
    assert cli("config", "unset", "timeout").exit_code == 0
    assert "timeout" not in read_config(config_path())["default"]
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


def test_doctor_probes_a_real_session_endpoint_when_there_is_one(cli, emu):
    session_id = emu.running_session("lns-emulator-sse")
    checks = {c["check"]: c for c in json.loads(cli("doctor", "--json").stdout)}
    assert session_id in checks["websocket path"]["detail"]


def test_doctor_says_what_to_fix(cli, emu, monkeypatch):
    result = cli("--api-key", "wrong", "doctor")
    assert result.exit_code == 1 and "✗ api key accepted" in result.stdout and "ATAI_API_KEY" in result.stdout
    monkeypatch.delenv("ATAI_API_KEY")
    missing = cli("doctor")
    assert missing.exit_code == 1 and "atai login" in missing.stdout
