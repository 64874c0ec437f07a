"""The Typer app: global options and the command groups. No error handling lives here: the
one boundary is atai_cli.main."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from atai_cli import __version__
from atai_cli.commands.base import AtaiTyper
from atai_cli.state import AppState

app = AtaiTyper(
    name="atai",
    help="Operate Archetype AI lens sessions: create them, feed them, query them, and follow their output live.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"atai {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    ctx: typer.Context,
    endpoint: Annotated[Optional[str], typer.Option("--endpoint", metavar="URL", help="Lens API base URL (env ATAI_API_ENDPOINT).", show_default=False)] = None,
    api_key: Annotated[Optional[str], typer.Option("--api-key", metavar="KEY", help="API key (env ATAI_API_KEY).", show_default=False)] = None,
    profile: Annotated[Optional[str], typer.Option("--profile", metavar="NAME", help="Config profile (env ATAI_PROFILE).", show_default=False)] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show HTTP/WebSocket traffic (key redacted) and tracebacks.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    state = ctx.obj if isinstance(ctx.obj, AppState) else AppState()
    state.endpoint, state.api_key, state.profile, state.debug = endpoint, api_key, profile, debug
    ctx.obj = state


def _register() -> None:
    from atai_cli.commands import config, doctor, emulate, files, lens, login, query, read, run, session, stream, tail

    app.add_typer(lens.app, name="lens")
    app.add_typer(session.app, name="session")
    app.add_typer(stream.app, name="stream")
    app.add_typer(files.app, name="files")
    app.command("query")(query.query)
    app.command("read")(read.read)
    app.command("tail")(tail.tail)
    app.command("run")(run.run)
    app.command("emulator")(emulate.emulator)
    app.command("login")(login.login)
    app.command("logout")(login.logout)
    app.add_typer(config.app, name="config")
    app.command("doctor")(doctor.doctor)


_register()
