"""Why a follow stopped: the one list of stop reasons, shared by the pipeline (which decides),
the output layer (which reports) and the commands (which turn them into an exit code)."""

from __future__ import annotations

from enum import Enum


class StopReason(str, Enum):
    """How a whole follow ended (FleetResult.stopped_by), and why the fleet halted a session."""

    ENDED = "ended"  # every session ended by itself
    MAX_EVENTS = "max-events"
    TIMEOUT = "timeout"
    IDLE = "idle"
    INTERRUPTED = "interrupted"  # Ctrl-C
    TERMINATED = "terminated"  # SIGTERM
    STDOUT_CLOSED = "stdout closed"  # the reader of stdout went away (`| head`): a quiet, clean end

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def description(self) -> str:
        """What a session halted for this reason says it ended with (`- SID stopped: --timeout reached`)."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    StopReason.ENDED: "stopped",
    StopReason.MAX_EVENTS: "stopped: --max-events reached",
    StopReason.TIMEOUT: "stopped: --timeout reached",
    StopReason.IDLE: "stopped: --idle-exit",
    StopReason.INTERRUPTED: "stopped: interrupted",
    StopReason.TERMINATED: "stopped: terminated",
    StopReason.STDOUT_CLOSED: "stdout closed",
}
