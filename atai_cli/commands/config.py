"""atai login, logout, config and doctor: keys, profiles and a health check."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from atai_cli.commands._common import JsonOpt, parse_value, state
from atai_cli.errors import AtaiError, UsageError

app = typer.Typer(help="Settings and profiles (config.toml, written 0600).", no_args_is_help=True)

SETTABLE = ("api_endpoint", "api_key", "timeout", "max_retries", "retry_delay", "reconnect_delay", "client_id")


def login(
    ctx: typer.Context,
    with_key: Annotated[bool, typer.Option("--with-key", help="Read the key from stdin instead of prompting.")] = False,
) -> None:
    """Check an API key against the endpoint and store it in the profile (0600)."""
    from atai_cli.client.api import LensApi
    from atai_cli.settings import update_profile

    st = state(ctx)
    out = st.output()
    if with_key:
        key = sys.stdin.readline().strip()
    elif st.api_key:
        key = st.api_key
    else:
        if not sys.stdin.isatty():
            raise UsageError("no terminal to prompt on", hint="pipe the key in with --with-key: `printf %s \"$KEY\" | atai login --with-key`")
        key = typer.prompt("API key", hide_input=True).strip()
    if not key:
        raise UsageError("an empty API key")
    if any(ch.isspace() or not ch.isprintable() for ch in key):
        raise UsageError("the key contains spaces or control characters; was it pasted with extra text?")
    settings = st.settings
    with LensApi(settings.api_endpoint, key, timeout=min(settings.timeout, 15), max_retries=1,
                 retry_delay=settings.retry_delay) as api:
        api.list_lenses()  # AuthError (exit 3) for a wrong key, before anything is stored
    values = {"api_key": key}
    if st.endpoint:
        values["api_endpoint"] = st.endpoint
    path = update_profile(st.profile_name, values)
    out.success(f"logged in to {settings.api_endpoint}; key stored in {path} [{st.profile_name}]")
    if os.environ.get("ATAI_API_KEY") and os.environ["ATAI_API_KEY"] != key:
        out.warn("ATAI_API_KEY is set in the environment and takes precedence over the stored key")


def logout(ctx: typer.Context) -> None:
    """Remove the stored API key from the profile."""
    from atai_cli.settings import read_config, update_profile

    st = state(ctx)
    out = st.output()
    if "api_key" not in (read_config().get(st.profile_name) or {}):
        out.info(f"no key stored for profile {st.profile_name}")
        return
    update_profile(st.profile_name, unset=["api_key"])
    out.success(f"removed the key of profile {st.profile_name}")


@app.command("show")
def config_show(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Show the settings in effect and where each comes from (flag, env, file, default)."""
    from atai_cli.settings import FIELDS, provenance

    st = state(ctx)
    out = st.output(json_)
    settings = st.settings
    origin = provenance(st.flags, st.profile_name)
    rows = []
    for name in FIELDS:
        value = getattr(settings, name)
        if name == "api_key":
            value = "***" if value else None
        rows.append({"setting": name, "value": value, "source": origin[name]})
    if json_:
        out.json({"profile": st.profile_name, "settings": rows})
    else:
        out.table(rows, [("setting", "SETTING"), ("value", "VALUE"), ("source", "SOURCE")], title=f"profile {st.profile_name}")


@app.command("set")
def config_set(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help=", ".join(SETTABLE))],
    value: Annotated[str, typer.Argument(help="The value; numbers are parsed.")],
) -> None:
    """Store one setting in the profile."""
    from atai_cli.settings import update_profile

    if key not in SETTABLE:
        raise UsageError(f"unknown setting {key!r}", hint=f"one of: {', '.join(SETTABLE)}")
    parsed = parse_value(value) if key in ("timeout", "max_retries", "retry_delay", "reconnect_delay") else value
    if key in ("timeout", "retry_delay", "reconnect_delay", "max_retries") and not isinstance(parsed, (int, float)):
        raise UsageError(f"{key} must be a number, got {value!r}")
    st = state(ctx)
    path = update_profile(st.profile_name, {key: parsed})
    shown = "***" if key == "api_key" else parsed
    st.output().success(f"{key} = {shown} in {path} [{st.profile_name}]")


@app.command("unset")
def config_unset(ctx: typer.Context, key: Annotated[str, typer.Argument(help=", ".join(SETTABLE))]) -> None:
    """Remove one setting from the profile."""
    from atai_cli.settings import update_profile

    st = state(ctx)
    update_profile(st.profile_name, unset=[key])
    st.output().success(f"removed {key} from [{st.profile_name}]")


@app.command("path")
def config_path_command() -> None:
    """Print the config file's path."""
    from atai_cli.output import Output
    from atai_cli.settings import config_path

    Output().text(str(config_path()))


@app.command("profiles")
def config_profiles(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """List the profiles in the config file; * marks the active one."""
    from atai_cli.settings import read_config

    st = state(ctx)
    out = st.output(json_)
    data = read_config()
    names = sorted(set(data) | {st.profile_name})
    rows = [{"profile": n, "active": "*" if n == st.profile_name else "", "endpoint": (data.get(n) or {}).get("api_endpoint"),
             "key": "stored" if (data.get(n) or {}).get("api_key") else ""} for n in names]
    out.table(rows, [("active", ""), ("profile", "PROFILE"), ("endpoint", "ENDPOINT"), ("key", "KEY")])


def doctor(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Check the endpoint, the key, and the WebSocket and SSE paths, and say what to fix."""
    import time

    st = state(ctx)
    out = st.output(json_)
    checks: list[dict] = []

    def check(name: str, action, fix: str) -> bool:
        started = time.monotonic()
        try:
            detail = action() or "ok"
            checks.append({"check": name, "ok": True, "detail": detail, "ms": round((time.monotonic() - started) * 1000)})
            return True
        except AtaiError as exc:
            checks.append({"check": name, "ok": False, "detail": exc.message, "fix": exc.hint or fix})
        return False

    settings = st.settings
    checks.append({"check": "endpoint", "ok": True, "detail": settings.api_endpoint})
    if not st.secret():
        checks.append({"check": "api key", "ok": False, "detail": "no key configured", "fix": "set ATAI_API_KEY, pass --api-key, or run `atai login`"})
    else:
        from atai_cli.client.api import LensApi
        from atai_cli.client.socket import SessionSocket

        api = LensApi(settings.api_endpoint, st.secret(), timeout=min(settings.timeout, 10), max_retries=1, retry_delay=0.2)
        reachable = check("api key accepted", lambda: f"{len(api.list_lenses())} lenses visible",
                          "check the endpoint and the key")
        if reachable:
            ws_base = settings.api_endpoint.replace("https://", "wss://").replace("http://", "ws://")

            def probe_ws() -> str:
                from atai_cli.errors import NotFoundError

                try:
                    SessionSocket(f"{ws_base}/lens/sessions/lsn-atai-doctor-probe", st.secret(), connect_timeout=10).connect()
                except NotFoundError:
                    return "answers (unknown session refused as expected)"
                return "answers"

            def probe_sse() -> str:
                from atai_cli.errors import NotFoundError

                try:
                    api.rest.request("GET", "lens/sessions/consumer/lsn-atai-doctor-probe", timeout=10)
                except NotFoundError:
                    return "answers (unknown session refused as expected)"
                return "answers"

            check("websocket path", probe_ws, "a proxy may block WebSocket upgrades; try another network")
            check("sse path", probe_sse, "a proxy may buffer or block text/event-stream")
        api.close()
    out.checklist(checks)
    failed = [c for c in checks if not c["ok"]]
    if failed:
        raise AtaiError(f"{len(failed)} check(s) failed: {', '.join(c['check'] for c in failed)}")
