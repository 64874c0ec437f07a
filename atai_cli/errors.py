"""Errors as data: every failure atai reports is one of these, and each knows its exit code.

The client raises them saying what failed; commands may add a hint that names a flag; the
entry point (atai_cli.main) is the one place that turns them into a line on stderr and the
contract's exit code, adding the standard hint for the kind when there is none.
"""

from __future__ import annotations


class AtaiError(Exception):
    """A failure with a message for the user and, ideally, a hint saying what to do next."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(AtaiError):
    """Bad flag, bad value, missing or unreadable local file."""

    exit_code = 2


class AuthError(AtaiError):
    """401/403, or no API key at all."""

    exit_code = 3


class NotFoundError(AtaiError):
    """Unknown lens, session or file. `resource` says which kind ("lens", "session", "file")."""

    exit_code = 4

    def __init__(self, message: str, hint: str | None = None, *, resource: str | None = None) -> None:
        super().__init__(message, hint)
        self.resource = resource


class OperationTimeout(AtaiError):
    """Waiting for RUNNING, a query, or --timeout took too long."""

    exit_code = 5


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

    exit_code = 130


class StdoutClosed(Exception):
    """The reader of stdout went away (`atai tail | head`): stop quietly, exit 0."""
