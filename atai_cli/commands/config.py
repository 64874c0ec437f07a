"""atai config: the settings in effect and where each comes from; set, get, unset; profiles."""

from __future__ import annotations

from typing import Annotated

import typer

from atai_cli.commands.base import AtaiTyper
from atai_cli.commands.options import JsonOpt, state
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

    st = state(ctx)
    settings = st.settings
    origin = provenance(st.flags, st.profile_name, st.env.environ, st.env.config_path)
    rows = [{"setting": name, "value": _shown(name, getattr(settings, name)), "source": origin[name]} for name in FIELDS]
    st.out.table(rows, (Column("setting", "SETTING"), Column("value", "VALUE"), Column("source", "SOURCE")),
                 title=f"profile {st.profile_name}", document={"profile": st.profile_name, "settings": rows})


@app.command("get")
def config_get(ctx: typer.Context, name: NameArg) -> None:
    """Print one setting's value in effect (the one way to print forward_secret; api_key stays ***)."""
    from atai_cli.errors import UsageError
    from atai_cli.settings import FIELDS

    if name not in FIELDS:
        raise UsageError(f"unknown setting {name!r}", hint=f"one of: {SETTING_HELP}")
    st = state(ctx)
    if name == "forward_secret":
        st.out.text(st.forward_secret())
        return
    value = getattr(st.settings, name)
    st.out.text("" if value is None else str(_shown(name, value)))


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
    st = state(ctx)
    path = update_profile(st.env.config_path, st.profile_name, {name: checked})
    st.out.success(f"{name} = {_shown(name, checked)} in {path} [{st.profile_name}]")


@app.command("unset")
def config_unset(ctx: typer.Context, name: NameArg) -> None:
    """Remove one setting from the profile."""
    from atai_cli.config_file import update_profile

    st = state(ctx)
    update_profile(st.env.config_path, st.profile_name, unset=[name])
    st.out.success(f"removed {name} from [{st.profile_name}]")


@app.command("path")
def config_path_command(ctx: typer.Context) -> None:
    """Print the config file's path."""
    st = state(ctx)
    st.out.text(str(st.env.config_path))


@app.command("profiles")
def config_profiles(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """List the profiles in the config file; * marks the active one."""
    from atai_cli.config_file import read_config

    st = state(ctx)
    data = read_config(st.env.config_path)
    names = sorted({n for n, t in data.items() if isinstance(t, dict)} | {st.profile_name})
    rows = [{"profile": n, "active": "*" if n == st.profile_name else "", "endpoint": (data.get(n) or {}).get("api_endpoint"),
             "key": "stored" if (data.get(n) or {}).get("api_key") else ""} for n in names]
    st.out.table(rows, (Column("active", ""), Column("profile", "PROFILE"), Column("endpoint", "ENDPOINT"), Column("key", "KEY")))
