"""atai config: the settings in effect and where each comes from; set, get, unset; profiles."""

from __future__ import annotations

from typing import Annotated

import typer

from atai_cli.commands.base import AtaiTyper
from atai_cli.commands.options import JsonOpt, app_state
from atai_cli.output import Column

app = AtaiTyper(help="Settings and profiles (config.toml, written 0600; comments and other keys are kept).")

SETTING_HELP = ("api_endpoint, api_key, timeout, max_retries, retry_delay, reconnect_delay, "
                "reconnect_give_up, client_id, forward_secret")
NameArg = Annotated[str, typer.Argument(metavar="NAME", help=SETTING_HELP)]


def _shown(name: str, value) -> object:
    from atai_cli.settings import SECRET_SETTINGS

    if name in SECRET_SETTINGS:
        return "***" if value else None
    return value


@app.command("show")
def config_show(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Show the settings in effect and where each comes from (flag, env, file, default).
    Secrets (api_key, forward_secret) show as ***."""
    from atai_cli.settings import FIELDS, provenance

    state = app_state(ctx)
    settings = state.settings
    origin = provenance(state.flags, state.profile_name, state.env.environ, state.env.config_path)
    rows = [{"setting": name, "value": _shown(name, getattr(settings, name)), "source": origin[name]} for name in FIELDS]
    state.out.table(rows, (Column("setting", "SETTING"), Column("value", "VALUE"), Column("source", "SOURCE")),
                 title=f"profile {state.profile_name}", document={"profile": state.profile_name, "settings": rows})


@app.command("get")
def config_get(ctx: typer.Context, name: NameArg) -> None:
    """Print one setting's value in effect (the one way to print forward_secret; api_key stays ***)."""
    from atai_cli.errors import UsageError
    from atai_cli.settings import FIELDS

    if name not in FIELDS:
        raise UsageError(f"unknown setting {name!r}", hint=f"one of: {SETTING_HELP}")
    state = app_state(ctx)
    if name == "forward_secret":
        state.out.text(state.forward_secret())
        return
    value = getattr(state.settings, name)
    state.out.text("" if value is None else str(_shown(name, value)))


@app.command("set")
def config_set(
    ctx: typer.Context,
    name: NameArg,
    value: Annotated[str, typer.Argument(metavar="VALUE", help="Checked against the setting's type before it is written.")],
) -> None:
    """Store one setting in the profile."""
    from atai_cli.config_file import update_profile
    from atai_cli.settings import validate_value

    checked = validate_value(name, value)
    state = app_state(ctx)
    path = update_profile(state.env.config_path, state.profile_name, {name: checked})
    state.out.success(f"{name} = {_shown(name, checked)} in {path} [{state.profile_name}]")


@app.command("unset")
def config_unset(ctx: typer.Context, name: NameArg) -> None:
    """Remove one setting from the profile."""
    from atai_cli.config_file import update_profile

    state = app_state(ctx)
    update_profile(state.env.config_path, state.profile_name, unset=[name])
    state.out.success(f"removed {name} from [{state.profile_name}]")


@app.command("path")
def config_path_command(ctx: typer.Context) -> None:
    """Print the config file's path."""
    state = app_state(ctx)
    state.out.text(str(state.env.config_path))


@app.command("profiles")
def config_profiles(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """List the profiles in the config file; * marks the active one."""
    from atai_cli.config_file import read_config

    state = app_state(ctx)
    data = read_config(state.env.config_path)
    names = sorted({n for n, t in data.items() if isinstance(t, dict)} | {state.profile_name})
    rows = [{"profile": n, "active": "*" if n == state.profile_name else "", "endpoint": (data.get(n) or {}).get("api_endpoint"),
             "key": "stored" if (data.get(n) or {}).get("api_key") else ""} for n in names]
    state.out.table(rows, (Column("active", ""), Column("profile", "PROFILE"), Column("endpoint", "ENDPOINT"), Column("key", "KEY")))
