"""Errors as data: every failure atai reports is one of these, and each knows its exit code.

The client raises them saying what failed; commands may add a hint that names a flag; the
entry point (atai_cli.main) is the one place that turns them into a line on stderr and the
contract's exit code, adding the standard hint for the kind when there is none.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Sequence


class ExitCode(IntEnum):
    """Every exit code atai uses, once (README's table says the same)."""

    OK = 0
    FAILURE = 1  # the API or the network failed, a session of several failed, an event was rejected
    USAGE = 2  # bad flag or value, missing or unreadable file (Typer's own usage errors too)
    AUTH = 3
    NOT_FOUND = 4
    TIMEOUT = 5
    INTERRUPTED = 130  # 128 + SIGINT, as shells report it
    TERMINATED = 143  # 128 + SIGTERM


# The standard next step for an authentication failure, when the code that raised it had
# nothing more specific to say.
AUTH_HINT = "check ATAI_API_KEY, pass --api-key, or run `atai login`"
# ... and when no key was given at all.
NO_KEY_HINT = "set ATAI_API_KEY, pass --api-key, or run `atai login`"


class AtaiError(Exception):
    """A failure with a message for the user and, ideally, a hint saying what to do next."""

    exit_code: int = ExitCode.FAILURE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(AtaiError):
    """Bad flag, bad value, missing or unreadable local file."""

    exit_code = ExitCode.USAGE


class AuthError(AtaiError):
    """401/403, or no API key at all."""

    exit_code = ExitCode.AUTH


class NotFoundError(AtaiError):
    """Unknown lens, session or file. `resource` says which kind ("lens", "session", "file")."""

    exit_code = ExitCode.NOT_FOUND

    def __init__(self, message: str, hint: str | None = None, *, resource: str | None = None) -> None:
        super().__init__(message, hint)
        self.resource = resource


class OperationTimeout(AtaiError):
    """Waiting for RUNNING, a query, or --timeout took too long."""

    exit_code = ExitCode.TIMEOUT


class ServerTimeout(OperationTimeout):
    """The server itself answered that the operation timed out; its words are in the message."""


class ApiError(AtaiError):
    """The API answered with an error (other 4xx, 5xx after retries)."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.status = status
        self.code = code


class Rejected(ApiError):
    """The API understood the request and said no (`is_valid: false`, `error_messages`)."""

    def __init__(self, what: str, reasons: list[str], hint: str | None = None) -> None:
        super().__init__(f"{what} rejected: {'; '.join(reasons) or 'no reason given'}", hint)
        self.what = what
        self.reasons = reasons


class NetworkError(AtaiError):
    """The server could not be reached, or dropped the connection for good."""


class ProtocolError(AtaiError):
    """The server sent something the API does not promise (HTML page, non-JSON, missing fields)."""


class Interrupted(AtaiError):
    """Ctrl-C, with a hint that says how to resume."""

    exit_code = ExitCode.INTERRUPTED


class Terminated(Interrupted):
    """SIGTERM while following: stopped as for Ctrl-C, with the same resume hint."""

    exit_code = ExitCode.TERMINATED


class SomeFailed(AtaiError):
    """Several operations ran and some failed ("3 of 5 sessions could not be destroyed"). Its
    exit code is the one the failures share, else 1: a script then learns "not found" when every
    failure was a 404, and the general code when they differ."""

    def __init__(self, message: str, failures: Sequence[AtaiError], hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.failures = list(failures)
        codes = {failure.exit_code for failure in self.failures}
        self.exit_code = codes.pop() if len(codes) == 1 else ExitCode.FAILURE


class StdoutClosed(Exception):
    """The reader of stdout went away (`atai tail | head`): stop quietly, exit 0."""
