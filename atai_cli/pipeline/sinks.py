"""Where followed events go: stdout, the live view, --forward-to, --exec, --record.

Each sink takes an event and says when it is done with it: `take` returns True once the
event is printed / delivered / handled (or deliberately passed over, reported), and False
only when the command is stopping before the sink could finish. The session's cursor moves
past an event only when every sink returned True, so nothing is lost and, after a clean stop,
nothing is repeated.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Mapping

from atai_cli.errors import StdoutClosed, UsageError
from atai_cli.protocol import recording
from atai_cli.protocol.records import OutputEvent
from atai_cli.protocol.redact import redact_text

# What --exec children never see, whatever the user's environment holds.
SECRET_VARIABLES = ("ATAI_API_KEY", "ATAI_FORWARD_SECRET")


class Sink:
    def take(self, event: OutputEvent, line: str | None, stop: threading.Event) -> bool:
        raise NotImplementedError

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def summary(self) -> str | None:
        """One stderr line for the end of the command, when there is something to say."""
        return None

    @property
    def failed(self) -> bool:
        """Something was rejected along the way: the command exits 1 at the end."""
        return False


class StdoutSink(Sink):
    """JSON lines on stdout, one per event, flushed before the follower waits again."""

    def __init__(self, writer, warn: Callable[[str], None]) -> None:
        self.writer = writer
        self.warn = warn
        self.lock = threading.Lock()

    def take(self, event: OutputEvent, line: str | None, stop: threading.Event) -> bool:
        if line is None:
            self.warn(f"skipped an event whose data is not JSON (id {event.id or '-'}): {str(event.data)[:80]!r}")
            return True
        with self.lock:
            self.writer.write_line(line)
        return True

    def flush(self) -> None:
        with self.lock:
            self.writer.flush()


class ViewSink(Sink):
    def __init__(self, view) -> None:
        self.view = view

    def take(self, event: OutputEvent, line: str | None, stop: threading.Event) -> bool:
        self.view.add(event)
        return True


@dataclass
class DeliveryStats:
    delivered: int = 0
    retried: int = 0
    rejected: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class ForwardSink(Sink):
    """POST each event to the receiver, holding that session's stream until it answers 2xx."""

    def __init__(self, forwarder, report: Callable[[str], None]) -> None:
        self.forwarder = forwarder
        self.report = report
        self.stats = DeliveryStats()

    def take(self, event: OutputEvent, line: str | None, stop: threading.Event) -> bool:
        if line is None:
            return True  # not JSON: nothing to forward (stdout reported it)
        kind = event.kind
        event_id = event.id

        def report(attempt) -> None:
            what = f"{kind} {event.session_id} {event_id or '-'} {attempt.ms:.0f}ms"
            status = attempt.status if attempt.status is not None else "---"
            with self.stats.lock:
                if attempt.outcome == "delivered":
                    self.stats.delivered += 1
                elif attempt.outcome == "retry":
                    self.stats.retried += 1
                elif attempt.outcome == "rejected":
                    self.stats.rejected += 1
            if attempt.outcome == "delivered":
                self.report(f"forward {status} {what}")
            elif attempt.outcome == "retry":
                self.report(f"forward {status} {what} ({attempt.detail}); retrying in {attempt.retry_in:.1f}s")
            elif attempt.outcome == "rejected":
                self.report(f"forward {status} {what} rejected ({attempt.detail}); not retried")

        attempt = self.forwarder.deliver(line.encode("utf-8"), session_id=event.session_id, event_id=event_id,
                                         event_type=kind, stop=stop, report=report)
        return attempt.outcome != "cancelled"

    def close(self) -> None:
        self.forwarder.close()

    @property
    def failed(self) -> bool:
        return self.stats.rejected > 0

    def summary(self) -> str:
        s = self.stats
        return f"forwarded to {self.forwarder.url}: {s.delivered} delivered, {s.retried} retried, {s.rejected} rejected"


def child_environment(environ: Mapping[str, str], secrets: list[str]) -> dict[str, str]:
    """The environment of --exec children: the user's, minus the API key and forward secret
    under any name."""
    return {
        name: value for name, value in environ.items()
        if name not in SECRET_VARIABLES and not any(secret and secret in value for secret in secrets)
    }


class ExecSink(Sink):
    """Run `sh -c CMD` per event, one at a time, the line on stdin. The child's stdout goes to
    atai's stderr, so atai's stdout stays JSON lines."""

    GRACE = 2.0  # seconds a command still running at Ctrl-C gets before it is terminated

    def __init__(self, command: str, environ: Mapping[str, str], secrets: list[str], stderr: IO,
                 report: Callable[[str], None]) -> None:
        self.command = command
        self.environ = child_environment(environ, secrets)
        self.stderr = stderr
        self.report = report
        self.lock = threading.Lock()
        self.ran = 0
        self.failures = 0

    def _stderr_fd(self) -> int | None:
        try:
            return self.stderr.fileno()
        except (AttributeError, OSError, ValueError):
            return None

    def take(self, event: OutputEvent, line: str | None, stop: threading.Event) -> bool:
        if line is None:
            return True
        env = {**self.environ, "ATAI_SESSION_ID": event.session_id, "ATAI_EVENT_ID": event.id or "",
               "ATAI_EVENT_TYPE": event.kind or ""}
        with self.lock:
            if stop.is_set():
                return False
            fd = self._stderr_fd()
            child = subprocess.Popen(["sh", "-c", self.command], stdin=subprocess.PIPE,
                                     stdout=fd if fd is not None else subprocess.PIPE,
                                     stderr=fd if fd is not None else subprocess.PIPE, env=env)
            try:
                child.stdin.write((line + "\n").encode("utf-8"))
                child.stdin.close()
            except (BrokenPipeError, OSError):
                pass  # the command does not read its stdin: fine
            code = self._wait(child, stop)
            if fd is None:
                out, err = child.stdout.read(), child.stderr.read()  # type: ignore[union-attr]
                for chunk in (out, err):
                    if chunk:
                        self.stderr.write(chunk.decode("utf-8", "replace"))
            self.ran += 1
            if code is None:
                self.report(f"exec terminated at exit: {event.kind} {event.session_id} {event.id or '-'}")
                return False
            if code != 0:
                self.failures += 1
                self.report(f"exec exited {code} for {event.kind} {event.session_id} {event.id or '-'}; going on")
            return True

    def _wait(self, child: subprocess.Popen, stop: threading.Event) -> int | None:
        """The exit code; None when the command had to be terminated because atai is stopping."""
        while True:
            try:
                return child.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                if stop.is_set():
                    break
        try:
            return child.wait(timeout=self.GRACE)
        except subprocess.TimeoutExpired:
            child.terminate()
            try:
                child.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        return None

    def summary(self) -> str | None:
        if not self.ran:
            return None
        return f"exec: ran {self.ran}, {self.failures} failed"


class RecordSink:
    """--record FILE: every received lens output event, before filtering, flushed as written.
    Not a Sink: it sees events before the filters do.

    The header names every session the command was given: lines wait (in memory, for the
    moment it takes each session to answer its first status) until all of them are known, then
    go out as they arrive. Sessions discovered later are named by their event lines.
    """

    def __init__(self, path: Path, *, append: bool, secrets: list[str]) -> None:
        self.path = path
        self.secrets = [s for s in secrets if s and len(s) >= 4]
        self.lock = threading.Lock()
        self._handle: IO[str] | None = None
        self._sessions: dict[str, dict] = {}
        self._started = time.monotonic()
        self._base = 0.0
        self._existing: dict | None = None
        self._waiting_for: set[str] = set()
        self._held: list[str] = []
        self.written = 0
        if path.is_dir():
            raise UsageError(f"--record {path} is a directory")
        if path.exists() and path.stat().st_size > 0:
            if not append:
                raise UsageError(f"{path} already exists: refusing to append to a recording",
                                 hint="choose a new file, or pass --record-append to add to it")
            self._existing = recording.read_header(path)  # exit 2 when it is not a recording
            self._base = self._resume_offset(self._existing)
        try:
            self._handle = open(path, "a" if self._existing is not None else "w", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write the recording {path}: {exc.strerror or exc}") from exc
        self._header_written = self._existing is not None

    def expect(self, session_ids: list[str]) -> None:
        """The sessions named on the command line: the header waits for all of them; when
        appending, they must be the recorded ones."""
        self._waiting_for = set(session_ids)
        if self._existing is None:
            return
        recorded = set(self._existing.get("sessions") or {})
        missing = [sid for sid in session_ids if sid not in recorded]
        if missing:
            raise UsageError(f"{self.path} is a recording of {', '.join(sorted(recorded)) or 'no session'}, "
                             f"not of {', '.join(missing)}",
                             hint="append only to a recording of the same sessions, or record to a new file")

    def add_session(self, session_id: str, lens_id: str | None, channel: str) -> None:
        """A session's follow starts; when appending, it must match what was recorded."""
        with self.lock:
            if self._existing is not None:
                recorded = (self._existing.get("sessions") or {}).get(session_id)
                if recorded and (recorded.get("channel") != channel or recorded.get("lens_id") != lens_id):
                    raise UsageError(f"{self.path}: session {session_id} was recorded on {recorded.get('lens_id')} "
                                     f"({recorded.get('channel')}), not {lens_id} ({channel})")
            self._sessions.setdefault(session_id, {"lens_id": lens_id, "channel": channel})
            self._settle(session_id)

    def settled(self, session_id: str) -> None:
        """A session the header was waiting for will not be followed after all (it failed)."""
        with self.lock:
            self._settle(session_id)

    def _settle(self, session_id: str) -> None:
        self._waiting_for.discard(session_id)
        if not self._waiting_for and self._held:
            self._ensure_header()
            held, self._held = self._held, []
            for line in held:
                self._write(line)

    @staticmethod
    def _resume_offset(existing: dict) -> float:
        """Appended lines continue the recording's clock: the real time since it was created."""
        from datetime import datetime, timezone

        created = recording.parse_created_at(existing["created_at"])
        return max(0.0, (datetime.now(timezone.utc) - created).total_seconds())

    def _write(self, text: str) -> None:
        assert self._handle is not None
        for secret in self.secrets:
            text = redact_text(text, secret)
        self._handle.write(text + "\n")
        self._handle.flush()

    def _ensure_header(self) -> None:
        import json

        if not self._header_written:
            self._header_written = True
            self._write(json.dumps(recording.header(self._sessions)))

    def write(self, event: OutputEvent) -> None:
        import json

        if event.envelope:
            return
        with self.lock:
            if self._handle is None:
                return
            t = self._base + time.monotonic() - self._started
            line = json.dumps(recording.event_line(t, event), separators=(",", ":"), ensure_ascii=False, default=str)
            self.written += 1
            if self._waiting_for:
                self._held.append(line)
                return
            self._ensure_header()
            self._write(line)

    def close(self) -> None:
        with self.lock:
            if self._handle is not None:
                self._ensure_header()
                for line in self._held:
                    self._write(line)
                self._held = []
                self._handle.close()
                self._handle = None
