"""What a follow says on stderr off a terminal (a live view shows the same things on one):
which session starts on which channel, each connection change, and how each session ends.

One line per change, never a line per retry tick, so `2> log` stays readable and a tail whose
server is gone says so at once (`reconnecting in 4.6s: connection refused`).
"""

from __future__ import annotations

from atai_cli.output import Output
from atai_cli.protocol.outcomes import Reporter, SessionOutcome
from atai_cli.protocol.events import StreamStatus
from atai_cli.protocol.stops import StopReason


def describe_status(status: StreamStatus) -> str | None:
    """The line for a connection change, or None when there is nothing worth a line."""
    import time

    if status.state == "reconnecting":
        wait = max(0.0, (status.retry_at or time.monotonic()) - time.monotonic())
        when = f"{wait:.1f}s" if wait >= 1 else f"{wait:.2f}s"
        return f"reconnecting in {when}: {status.detail}" if status.detail else f"reconnecting in {when}"
    if status.state == "connected" and status.detail.startswith("reconnected"):
        return status.detail
    return None


class SingleSessionLines(Reporter):
    """`atai tail SID` off a terminal: the v1 lines."""

    def __init__(self, out: Output) -> None:
        self.out = out

    def session_started(self, outcome: SessionOutcome) -> None:
        for warning in outcome.warnings:
            self.out.warn(warning)
        self.out.info(f"following {outcome.session_id} on the {outcome.channel} channel ({outcome.why})")

    def session_ended(self, outcome: SessionOutcome) -> None:
        pass  # the command's closing line says how it ended

    def status_changed(self, outcome: SessionOutcome, status: StreamStatus) -> None:
        line = describe_status(status)
        if line:
            self.out.info(line)


class FleetLines(Reporter):
    """Several sessions: `+ SID` when following starts, `- SID REASON` when it stops."""

    def __init__(self, out: Output) -> None:
        self.out = out

    def session_started(self, outcome: SessionOutcome) -> None:
        for warning in outcome.warnings:
            self.out.warn(f"{outcome.session_id}: {warning}")
        self.out.line(f"+ {outcome.session_id} lens {outcome.lens_id or '-'} channel {outcome.channel}")

    def session_ended(self, outcome: SessionOutcome) -> None:
        if outcome.stopped_by is StopReason.STDOUT_CLOSED:
            return  # `| head` had what it wanted: nothing to report
        state = "failed: " if outcome.failed else ""
        self.out.line(f"- {outcome.session_id} {state}{outcome.reason or 'ended'}")

    def status_changed(self, outcome: SessionOutcome, status: StreamStatus) -> None:
        line = describe_status(status)
        if line:
            self.out.line(f"  {outcome.session_id} {line}")


def outcome_warnings(outcome: SessionOutcome) -> list[str]:
    return list(outcome.warnings)
