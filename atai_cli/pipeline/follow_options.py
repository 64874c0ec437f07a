"""Every follow option of `atai tail` and `atai run` and its default, written once.

`FOLLOW_DEFAULTS` is where a default lives: the commands' Typer parameters take theirs from it
(so `--help` and docs/reference.md show the same numbers), and `FollowOptions`, what the fleet
runs with, is resolved from a `FollowFlags`. A plain dataclass keeps this import cheap: it is
loaded by every tail and run, and by the help of both.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FollowFlags:
    """The follow options a command was given, as the user typed them. `FollowFlags()` is the
    record of every default."""

    channel: str = "auto"
    meta: bool = False
    envelope: bool = False
    types: list[str] | None = None
    max_events: int | None = None
    timeout: float | None = None  # 0 or None: no limit
    idle_exit: float | None = None  # 0 or None: never
    heartbeat: float = 5.0
    give_up_after: float | None = None
    since: str | None = None
    client_id: str | None = None
    cursor_file: str | None = None
    forward_to: str | None = None
    forward_secret: str | None = None
    forward_timeout: float = 10.0
    insecure_forward: bool = False
    exec_: str | None = None
    changes_only: str | None = None
    record: str | None = None
    record_append: bool = False
    discover_interval: float = 5.0
    svg: str | None = None  # the live view's last frame, saved as SVG
    wait_running: float = 60.0  # how long a session may take to be RUNNING when --timeout is not given
    file_idle_exit: float = 10.0  # `atai run` on a file: its results are all in once none came for this long

    def running_wait(self) -> float:
        """How long to wait for a session to be RUNNING: --timeout when given."""
        return self.timeout or self.wait_running


FOLLOW_DEFAULTS = FollowFlags()


@dataclass(frozen=True)
class FollowOptions:
    """What the fleet runs with: the flags resolved (the client id chosen, 0 as "no limit",
    the printed shape decided). No defaults here: they are FOLLOW_DEFAULTS'."""

    channel: str
    since: str | None  # only for a single session named on the command line
    client_id: str
    client_id_given: bool  # named by --client-id: it may have read before, so its place is unknown
    heartbeat: float
    wait_timeout: float  # how long a session may take to be RUNNING
    max_events: int | None
    timeout: float | None
    idle_exit: float | None
    discover_interval: float
    shape: str  # how a printed line looks (output.jsonl SHAPE_*)

    @classmethod
    def resolve(cls, flags: FollowFlags, *, client_id: str, shape: str) -> "FollowOptions":
        """`client_id`: --client-id, else the profile's (the caller's to choose: the profile's
        may be created on first use)."""
        if flags.since is not None and any(ch in flags.since for ch in "\r\n\x00"):
            from atai_cli.errors import UsageError

            raise UsageError(f"--since {flags.since!r}: an event id is one line, without line breaks or NUL",
                             hint="give the \"id\" of a --meta line, or the one a resume hint printed")
        return cls(
            channel=flags.channel, since=flags.since, client_id=client_id, client_id_given=bool(flags.client_id),
            heartbeat=flags.heartbeat, wait_timeout=flags.running_wait(), max_events=flags.max_events,
            timeout=flags.timeout or None, idle_exit=flags.idle_exit or None,
            discover_interval=flags.discover_interval, shape=shape,
        )
