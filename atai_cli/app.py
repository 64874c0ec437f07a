"""The Typer app: global options, command groups, and the error boundary."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from atai_cli import __version__
from atai_cli.context import AppState
from atai_cli.errors import AtaiError


class AtaiGroup(TyperGroup):
    """Runs every command inside the one error boundary (atai_cli.main.report)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except BrokenPipeError:
            from atai_cli.main import silence_stdout

            silence_stdout()
            raise typer.Exit(0)
        except (AtaiError, KeyboardInterrupt, Exception) as exc:
            if hasattr(exc, "show") and hasattr(exc, "exit_code"):
                raise  # Typer's own usage errors: it prints them and exits 2
            from atai_cli.main import report

            state = ctx.obj if isinstance(ctx.obj, AppState) else AppState()
            secrets = [state.api_key]
            try:
                if "settings" in state.__dict__:
                    secrets.append(state.secret())
            except Exception:
                pass
            raise typer.Exit(report(exc, debug=state.debug, secrets=secrets))
        finally:
            if isinstance(ctx.obj, AppState):
                ctx.obj.close()


app = typer.Typer(
    cls=AtaiGroup,
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
    ctx.obj = AppState(endpoint=endpoint, api_key=api_key, profile=profile, debug=debug)


def _register() -> None:
    from atai_cli.commands import config, emulator, files, lens, query, read, run, session, stream, tail

    app.add_typer(lens.app, name="lens")
    app.add_typer(session.app, name="session")
    app.add_typer(stream.app, name="stream")
    app.add_typer(files.app, name="files")
    app.command("query")(query.query)
    app.command("read")(read.read)
    app.command("tail")(tail.tail)
    app.command("run")(run.run)
    app.command("emulator")(emulator.emulator)
    app.command("login")(config.login)
    app.command("logout")(config.logout)
    app.add_typer(config.app, name="config")
    app.command("doctor")(config.doctor)


_register()
