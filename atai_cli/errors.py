"""Errors as data: every failure atai reports is one of these, and each knows its exit code.

Client code raises them; the entry point (atai_cli.main.report) is the one place that turns
them into a one-line message on stderr and the contract's exit code.
"""

from __future__ import annotations


class AtaiError(Exception):
    """A failure with a message for the user and, ideally, a hint saying what to do next."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(AtaiError):
    """Bad flag, bad value, missing local file."""

    exit_code = 2


class AuthError(AtaiError):
    """401/403, or no API key at all."""

    exit_code = 3


class NotFoundError(AtaiError):
    """Unknown lens, session or file."""

    exit_code = 4


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


class NetworkError(AtaiError):
    """The server could not be reached, or dropped the connection for good."""


class ProtocolError(AtaiError):
    """The server sent something the API does not promise (HTML page, non-JSON, missing fields)."""


class Interrupted(AtaiError):
    """Ctrl-C."""

    exit_code = 130
