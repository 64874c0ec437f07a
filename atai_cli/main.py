"""The entry point: main(argv, env) builds the state, runs the Typer app, and is the one
place where exceptions become a message, a hint and an exit code."""

from __future__ import annotations

import atexit
import os
import sys
from contextlib import ExitStack, redirect_stderr, redirect_stdout
from typing import Sequence

from atai_cli.environment import Environment
from atai_cli.errors import AUTH_HINT, AtaiError, AuthError, ExitCode, Interrupted, NotFoundError, StdoutClosed


def _exit_without_teardown() -> None:
    """The last exit handler of a command-line run: registered here, before Typer, httpx or any
    other library loads and registers one, and exit handlers run last-registered first (threads
    are joined before any of them). It flushes the standard streams and ends the process
    without the interpreter's teardown, which frees some 300 modules one by one: ~25 ms, more
    than a `session list` request takes. atai leaves the teardown nothing to do: every file it
    writes is flushed or closed as it goes (a kill -9 loses nothing). Under coverage, whose exit
    handler saves the data, the normal exit runs."""
    code = _command_line_exit_code
    if code is None or "coverage" in sys.modules:
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed pipe or no stream: nothing left to flush
            pass
    os._exit(code)


_command_line_exit_code: int | None = None  # set by main() when it runs as the `atai` command
atexit.register(_exit_without_teardown)

# The standard next step for each kind of failure, when the code that raised it had nothing
# more specific to say.
HINTS_BY_RESOURCE = {
    "lens": "list lenses with `atai lens list`",
    "session": "list sessions with `atai session list`",
    "file": "list files with `atai files list`, upload one with `atai files upload PATH`",
}


def describe(exc: BaseException, debug: bool = False) -> tuple[str | None, str | None, int]:
    """(message, hint, exit code) for any exception; a None message prints nothing."""
    import typer

    if isinstance(exc, StdoutClosed):
        return None, None, ExitCode.OK
    if isinstance(exc, AtaiError):
        hint = exc.hint
        if hint is None and isinstance(exc, NotFoundError):
            hint = HINTS_BY_RESOURCE.get(exc.resource or "")
        if hint is None and isinstance(exc, AuthError):
            hint = AUTH_HINT
        return exc.message, hint, int(exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", None, ExitCode.INTERRUPTED
    if isinstance(exc, typer.TyperException):  # Typer's usage errors (bad flag, missing argument)
        return _usage_message(exc), _usage_hint(exc), ExitCode.USAGE
    if isinstance(exc, (typer.Abort, EOFError)):
        return "aborted: no answer", None, ExitCode.FAILURE
    if isinstance(exc, BrokenPipeError):
        return None, None, ExitCode.OK
    message = f"unexpected failure: {type(exc).__name__}: {exc}"
    return message, None if debug else "run again with --debug for the traceback, and report it", ExitCode.FAILURE


def _usage_message(exc) -> str:
    text = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    text = text.replace("Value error, ", "").strip()
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def _usage_hint(exc) -> str:
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None) or "atai"
    return f"see `{path} --help`"


def report(exc: BaseException, out, *, debug: bool = False, secrets: Sequence[str | None] = ()) -> int:
    """Print one line (plus a hint) for a failure on stderr and return its exit code.
    With --debug the traceback comes first; every secret is masked in it too."""
    from atai_cli.protocol.redact import redact_text

    message, hint, code = describe(exc, debug)
    if debug and message is not None and not isinstance(exc, (KeyboardInterrupt, Interrupted)):  # a stop, not a fault
        import traceback

        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        out.line(redact_text(text, *secrets).rstrip())
    if message is not None:
        out.error(redact_text(message, *secrets), redact_text(hint, *secrets) if hint else None)
    return int(code)


def _version(env: Environment) -> int:
    from atai_cli import version_line

    env.stdout.write(version_line() + "\n")
    env.stdout.flush()
    return 0


def run(argv: Sequence[str], env: Environment) -> int:
    """Run the app with this environment; the exit code."""
    from atai_cli.app import build, for_command_line
    from atai_cli.output import Output
    from atai_cli.state import AppState

    _pydantic_without_plugins()
    completing = any(name.startswith("_ATAI_COMPLETE") for name in env.environ)
    rich_help = bool(env.stdout_isatty)
    app = build("*", rich_help=rich_help) if completing else for_command_line(argv, rich_help=rich_help)
    state = AppState(env)
    try:
        with ExitStack() as stack:
            # Typer and Rich write help and prompts to sys.*: point those at the injected streams.
            if env.stdout is not sys.stdout:
                stack.enter_context(redirect_stdout(env.stdout))
            if env.stderr is not sys.stderr:
                stack.enter_context(redirect_stderr(env.stderr))
            if env.stdin is not sys.stdin:
                stack.enter_context(_redirect_stdin(env.stdin))
            try:
                code = app(args=list(argv), prog_name="atai", standalone_mode=False, obj=state)
            finally:
                state.close()
        if code == ExitCode.INTERRUPTED:  # Typer turns KeyboardInterrupt into Exit(130)
            state.out.error("interrupted")
        return code if isinstance(code, int) else 0
    except SystemExit as exc:  # Typer's own exits (completion, EPIPE on help)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException as exc:  # noqa: BLE001 - the one boundary
        if _is_help_request(exc):
            return _print_help(exc, env)
        out = state.out if state.out_ready else Output.for_env(env, no_color=state.no_color)
        return report(exc, out, debug=state.debug, secrets=state.secrets())


class _PluginlessPydantic:
    """pydantic (Typer validates options with it; the settings are a model) looks through every
    installed package's entry points for plugins on first use: importing importlib.metadata and
    scanning every dist-info, ~25 ms of each start, for a feature atai does not use. Its off
    switch is the PYDANTIC_DISABLE_PLUGINS variable, but writing os.environ would reach the
    tests' process and every --exec child; instead this finder stands in for pydantic's plugin
    loader module with one that has the same names and finds no plugins (this process only).
    A command that never imports pydantic (`--help`) pays nothing."""

    LOADER = "pydantic.plugin._loader"

    def find_spec(self, name, path=None, target=None):
        if name != self.LOADER:
            return None
        from importlib.machinery import ModuleSpec

        sys.meta_path.remove(self)  # one module to stand in for; no cost to later imports
        return ModuleSpec(name, self)

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module) -> None:
        # The names pydantic's own _loader defines (pydantic 2.x), so nothing that reads them breaks.
        module.PYDANTIC_ENTRY_POINT_GROUP = "pydantic"
        module._plugins = {}
        module._loading_plugins = False
        module.get_plugins = _no_plugins


def _no_plugins() -> tuple:
    return ()


def _pydantic_without_plugins() -> None:
    if _PluginlessPydantic.LOADER in sys.modules or any(isinstance(f, _PluginlessPydantic) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _PluginlessPydantic())


def _is_help_request(exc: BaseException) -> bool:
    return type(exc).__name__ == "NoArgsIsHelpError"


def _print_help(exc, env: Environment) -> int:
    """`atai` or `atai session` alone: the group's help on stdout, exit 0 (as gh does)."""
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        env.stdout.write(ctx.get_help() + "\n")
    return 0


class _redirect_stdin:
    def __init__(self, stream) -> None:
        self.stream = stream

    def __enter__(self):
        self.saved, sys.stdin = sys.stdin, self.stream

    def __exit__(self, *exc: object) -> None:
        sys.stdin = self.saved


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> int:
    """The `atai` command (no arguments: sys.argv, the process's streams and environment) or,
    with them, one run inside another program (the tests)."""
    global _command_line_exit_code
    code = _main(list(sys.argv[1:] if argv is None else argv), env or Environment())
    if argv is None and env is None:
        _command_line_exit_code = code
    return code


def _main(args: list[str], env: Environment) -> int:
    if args == ["--version"]:
        # Answered before Typer is imported: `atai --version` is what scripts and shells
        # call most, and Typer alone costs more than a bare interpreter start.
        return _version(env)
    code = run(args, env)
    if code == 0 and env.stdout is sys.stdout:
        _flush_or_silence()
    return code


def _flush_or_silence() -> None:
    """After EPIPE (`atai tail | head`), point stdout at /dev/null so the final flush at exit
    cannot raise again and print 'Exception ignored ... BrokenPipeError'."""
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass
