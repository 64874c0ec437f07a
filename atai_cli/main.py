"""The entry point, and the one place where exceptions become messages and exit codes."""

from __future__ import annotations

import os
import sys
from typing import Sequence

from atai_cli.errors import AtaiError

EXIT_INTERRUPTED = 130


def report(exc: BaseException, *, debug: bool = False, secrets: Sequence[str | None] = ()) -> int:
    """Print one line (plus a hint) for a failure on stderr and return its exit code.

    With --debug the traceback comes first; the API key is masked in it too.
    """
    from atai_cli.output import Output
    from atai_cli.protocol.redact import redact_text

    out = Output()
    if debug and not isinstance(exc, (KeyboardInterrupt, BrokenPipeError)):
        import traceback

        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        sys.stderr.write(redact_text(text, *secrets))
    if isinstance(exc, AtaiError):
        out.error(redact_text(exc.message, *secrets), exc.hint)
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        out.error("interrupted")
        return EXIT_INTERRUPTED
    message = redact_text(f"{type(exc).__name__}: {exc}", *secrets)
    out.error(f"unexpected failure: {message}", None if debug else "run again with --debug for the traceback, and report it")
    return 1


def silence_stdout() -> None:
    """After EPIPE (`atai tail | head`), point stdout at /dev/null so the final flush at exit
    cannot raise again and print 'Exception ignored ... BrokenPipeError'."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        # Answered before Typer is imported: `atai --version` is what scripts and shells
        # call most, and Typer alone costs more than a bare interpreter start.
        from atai_cli import __version__

        sys.stdout.write(f"atai {__version__}\n")
        return
    from atai_cli.app import app

    app(args=args, prog_name="atai")

