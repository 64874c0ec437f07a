"""atai login and logout: check a key against the endpoint, store it in the profile (0600)."""

from __future__ import annotations

from typing import Annotated

import typer

from atai_cli.commands.options import app_state
from atai_cli.errors import AuthError, UsageError


def login(
    ctx: typer.Context,
    with_key: Annotated[bool, typer.Option("--with-key", help="Read the key from stdin instead of prompting.")] = False,
) -> None:
    """Check an API key against the endpoint and store it in the profile (0600).

    The endpoint is stored too when it was given (--endpoint or ATAI_API_ENDPOINT).
    """
    from atai_cli.config_file import update_profile

    state = app_state(ctx)
    out = state.out
    if with_key:
        key, source = state.env.stdin.readline().strip(), "the key read from stdin"
    elif state.api_key:
        key, source = state.api_key, "the key given with --api-key"
    else:
        if not state.env.interactive:
            raise UsageError("no terminal to prompt on", hint="pipe the key in with --with-key: `printf %s \"$KEY\" | atai login --with-key`")
        key, source = typer.prompt("API key", hide_input=True, err=True).strip(), "the key you typed"
    if not key:
        raise UsageError("an empty API key")
    if any(ch.isspace() or not ch.isprintable() for ch in key):
        raise UsageError("the key contains spaces or control characters; was it pasted with extra text?")
    settings = state.unchecked_settings
    try:
        state.api(api_key=key, settings=settings, timeout=min(settings.timeout, 15), max_retries=1).list_lenses()
    except AuthError as exc:  # exit 3 for a wrong key, before anything is stored
        exc.hint = f"{source} was refused by {settings.api_endpoint}: check it and run `atai login` again"
        raise
    values = {"api_key": key}
    endpoint_given = state.endpoint or state.env.get("ATAI_API_ENDPOINT")
    if endpoint_given:
        values["api_endpoint"] = settings.api_endpoint
    path = update_profile(state.env.config_path, state.profile_name, values)
    out.success(f"logged in to {settings.api_endpoint}; key stored in {path} [{state.profile_name}]")
    env_key = state.env.get("ATAI_API_KEY")
    if env_key and env_key != key:
        out.warn("ATAI_API_KEY is set in the environment and takes precedence over the stored key")


def logout(ctx: typer.Context) -> None:
    """Remove the stored API key from the profile."""
    from atai_cli.config_file import read_config, update_profile

    state = app_state(ctx)
    table = read_config(state.env.config_path).get(state.profile_name) or {}
    if "api_key" not in table:
        state.out.info(f"no key stored for profile {state.profile_name}")
        return
    update_profile(state.env.config_path, state.profile_name, unset=["api_key"])
    state.out.success(f"removed the key of profile {state.profile_name}")
