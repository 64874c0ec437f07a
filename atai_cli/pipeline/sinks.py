"""Where followed events go: stdout, the live view, --forward-to, --exec (--record is not a sink:
pipeline/recorder.py sees every event before the filters and sinks do).

Each sink takes an event and says when it is done with it: `take` returns True once the
event is printed / delivered / handled (or deliberately passed over, reported), and False
only when the command is stopping before the sink could finish. The session's cursor moves
past an event only when every sink returned True, so nothing is lost and, after a clean stop,
nothing is repeated.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Callable, Mapping

from atai_cli.protocol.events import OutputEvent

# What --exec children never see, whatever the user's environment holds.
SECRET_VARIABLES = ("ATAI_API_KEY", "ATAI_FORWARD_SECRET", "ATAI_KAFKA_SASL_PASSWORD", "ATAI_MQTT_PASSWORD",
                    "KAFKA_SASL_PASSWORD", "KAFKA_SSL_KEY_PASSWORD")


class Sink:
    # How long a command stopping waits for this sink to finish what it holds (seconds), and
    # whether it can hold an event for long at all (a receiver retrying, a command running).
    GRACE = 0.0
    HOLDS = False

    def take(self, event: OutputEvent, line: str | None, stop: threading.Event) -> bool:
        raise NotImplementedError

    def flush(self, timeout: float | None = None) -> bool:
        """Push out what is buffered; False when it could not be done within timeout."""
        return True

    def close(self) -> None:
        pass

    def summary(self) -> str | None:
        """One stderr line for the end of the command, when there is something to say."""
        return None

    @property
    def failed(self) -> bool:
        """Something was rejected along the way: the command exits 1 at the end."""
        return False

    @property
    def failure_hint(self) -> str:
        """What to do about it, when `failed`: the hint of the command's final error."""
        return "some events did not go through (see the lines above)"


class StdoutSink(Sink):
    """JSON lines on stdout, one per event. Batched, they are flushed before the follower waits
    again, and each flush commits the cursors of the lines it pushed out (`on_flushed`), so a
    saved cursor never counts a line still in the buffer."""

    def __init__(self, writer, warn: Callable[[str], None], on_flushed: Callable[[], None] | None = None) -> None:
        self.writer = writer
        self.warn = warn
        self.on_flushed = on_flushed
        self.lock = threading.Lock()

    def take(self, event: OutputEvent, line: str | None, stop: threading.Event) -> bool:
        if line is None:
            self.warn(f"skipped an event whose data is not JSON (id {event.id or '-'}): {str(event.data)[:80]!r}")
            return True
        with self.lock:
            self.writer.write_line(line)
        return True

    def flush(self, timeout: float | None = None) -> bool:
        # A writer blocked on a full pipe holds the lock: a stopping command does not wait on it.
        if not self.lock.acquire(timeout=-1 if timeout is None else timeout):
            return False
        try:
            self.writer.flush()
            if self.on_flushed is not None:
                self.on_flushed()
        finally:
            self.lock.release()
        return True


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
    undelivered: int = 0  # still waiting for a 2xx when the command stopped
    lock: threading.Lock = field(default_factory=threading.Lock)


class ForwardSink(Sink):
    """Hand each event to the receiver or broker (client.forwarder). HTTP holds the session's
    stream until the receiver answers 2xx; a broker takes up to a window of a session's events
    before it acknowledges them, and the session's cursor moves past an event only once it is
    acknowledged (`hold_cursors`)."""

    HOLDS = True
    LINGER = 10.0  # seconds a stopping command waits for a broker that acknowledges nothing

    def __init__(self, forwarder, report: Callable[[str], None]) -> None:
        self.forwarder = forwarder
        self.report = report
        self.stats = DeliveryStats()

    def hold_cursors(self, cursors):
        """The cursor store the fleet should advance: this one, or for a pipelining transport
        one whose advances wait until the session's events before them are acknowledged."""
        if self.forwarder.transport.synchronous:
            return cursors
        return AckedCursors(cursors, self.forwarder)

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
                again = f" (recovered after {attempt.retries} {'retry' if attempt.retries == 1 else 'retries'})" \
                    if attempt.retries else ""
                self.report(f"forward {status} {what}{again}")
            elif attempt.outcome == "retry":
                when = f"retrying in {attempt.retry_in:.1f}s" if attempt.retry_in is not None else "still retrying"
                self.report(f"forward {status} {what} ({attempt.detail}); {when}")
            elif attempt.outcome == "rejected":
                self.report(f"forward {status} {what} rejected ({attempt.detail}); not retried")

        attempt = self.forwarder.deliver(line.encode("utf-8"), session_id=event.session_id, event_id=event_id,
                                         event_type=kind, stop=stop, report=report)
        if attempt is None:
            return True  # on its way: the session's cursor waits for its acknowledgement
        if attempt.outcome == "cancelled":
            with self.stats.lock:
                self.stats.undelivered += 1
            return False
        return True

    def flush(self, timeout: float | None = None) -> bool:
        # Called without a timeout before every network wait: a broker's client sends on its
        # own, so nothing is pushed then. With one (the command stopping): wait for the acks
        # still due while they keep coming, and up to LINGER (or twice the forward timeout)
        # without one; a Ctrl-C ends the wait at once.
        if timeout is None:
            return True
        try:
            return self.forwarder.wait_settled(max(timeout, self.LINGER, 2 * self.forwarder.timeout))
        except KeyboardInterrupt:
            return False

    def close(self) -> None:
        waiting = self.forwarder.in_flight()
        with self.stats.lock:
            self.stats.undelivered += waiting
        self.forwarder.close()

    @property
    def failed(self) -> bool:
        # Events still unacknowledged at the end of a command that was not interrupted: the
        # command did not do what it was asked (an interruption reports itself first).
        return self.stats.rejected > 0 or self.stats.undelivered > 0

    @property
    def failure_hint(self) -> str:
        if self.stats.rejected:
            return "the receiver refused them (see the lines above); they were not retried"
        return ("the receiver had not acknowledged them when the command stopped (see the lines above): "
                "check that it is up and reachable, then run again with --cursor-file to send them")

    def summary(self) -> str:
        s = self.stats
        line = f"forwarded to {self.forwarder.url}: {s.delivered} delivered, {s.retried} retried, {s.rejected} rejected"
        if s.undelivered:
            line += f", {s.undelivered} not delivered when it stopped (a restart with --cursor-file sends them)"
        return line


class AckedCursors:
    """The fleet's cursor store, with each advance held until the broker acknowledged every event
    of that session handed over before it: the cursor only ever moves past acknowledged events,
    in order, while a session keeps a window of events in flight. Everything else is the store's."""

    def __init__(self, store, forwarder) -> None:
        self._store = store
        self._forwarder = forwarder

    def advance(self, session_id: str, event_id: str | None, server_offset: int | None = None,
                client_id: str | None = None, change=None) -> None:
        store = self._store
        self._forwarder.after_settled(session_id,
                                      lambda: store.advance(session_id, event_id, server_offset, client_id, change))

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    def __setattr__(self, name: str, value) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._store, name, value)


def child_environment(environ: Mapping[str, str], secrets: list[str]) -> dict[str, str]:
    """The environment of --exec children: the user's, minus the API key and forward secret
    under any name."""
    secrets = [s for s in secrets if s and len(s) >= 4]
    return {
        name: value for name, value in environ.items()
        if name not in SECRET_VARIABLES and not any(secret in value for secret in secrets)
    }


def _env_value(text: str) -> str:
    """Server data made safe for an environment variable (no NUL, which exec refuses)."""
    return text.replace("\0", "")


class ExecSink(Sink):
    """Run `sh -c CMD` per event, one at a time, the line on stdin. The child's stdout goes to
    atai's stderr, so atai's stdout stays JSON lines. Each child runs in a session of its own,
    so a Ctrl-C at the terminal reaches atai only; atai then gives a running command GRACE
    seconds and terminates it."""

    GRACE = 3.0  # seconds a command still running at Ctrl-C gets, plus one to be terminated
    HOLDS = True

    def __init__(self, command: str, environ: Mapping[str, str], secrets: list[str], stderr: IO | None,
                 report: Callable[[str], None]) -> None:
        self.command = command
        self.environ = child_environment(environ, secrets)
        self.stderr = stderr
        self.report = report
        self.lock = threading.Lock()
        self.ran = 0
        self.failures = 0

    def _stderr_fd(self) -> int | None:
        """Where the child writes: atai's stderr itself when it is a real file; else (a live
        view on the terminal, or an in-process stream) its output is collected and shown."""
        if self.stderr is None:
            return None
        try:
            return self.stderr.fileno()
        except (AttributeError, OSError, ValueError):
            return None

    def _show(self, text: str) -> None:
        if self.stderr is None:
            for line in text.splitlines():
                self.report(line)  # into the live view's notes, not across it
        else:
            self.stderr.write(text)

    def take(self, event: OutputEvent, line: str | None, stop: threading.Event) -> bool:
        if line is None:
            return True
        env = {**self.environ, "ATAI_SESSION_ID": _env_value(event.session_id),
               "ATAI_EVENT_ID": _env_value(event.id or ""), "ATAI_EVENT_TYPE": _env_value(event.kind or "")}
        with self.lock:
            if stop.is_set():
                return False
            fd = self._stderr_fd()
            child = subprocess.Popen(["sh", "-c", self.command], stdin=subprocess.PIPE,
                                     stdout=fd if fd is not None else subprocess.PIPE,
                                     stderr=fd if fd is not None else subprocess.PIPE, env=env,
                                     start_new_session=True)
            code, output = self._run(child, (line + "\n").encode("utf-8"), stop)
            for chunk in output:
                if chunk:
                    self._show(chunk.decode("utf-8", "replace"))
            self.ran += 1
            what = f"{event.kind} {event.session_id} {event.id or '-'}"
            if code is None:
                self.failures += 1  # killed at exit: it did not finish, so it did not succeed
                self.report(f"exec terminated at exit: {what}")
                return False
            if code != 0:
                self.failures += 1
                self.report(f"exec {describe_exit(code)} for {what}; going on")
            return True

    def _run(self, child: subprocess.Popen, data: bytes, stop: threading.Event) -> tuple[int | None, tuple]:
        """Feed the child and wait for it (communicate() writes stdin without blocking on a
        child that does not read it); None when it had to be terminated because atai stops."""
        sent = False
        grace_until = None
        while True:
            try:
                out, err = child.communicate(None if sent else data, timeout=0.1)
                return child.returncode, (out, err)
            except subprocess.TimeoutExpired:
                sent = True
            except (BrokenPipeError, OSError):
                sent = True  # the command does not read its stdin: fine
            if stop.is_set():
                grace_until = grace_until or time.monotonic() + self.GRACE - 1.0
                if time.monotonic() >= grace_until:
                    break
        _signal_group(child, signal.SIGTERM)  # the command and whatever it started
        try:
            out, err = child.communicate(timeout=1.0)
        except subprocess.TimeoutExpired:
            _signal_group(child, signal.SIGKILL)
            out, err = child.communicate()
        return None, (out, err)

    failure_hint = "the command failed for some events (see the lines above); the tail went on past them"

    @property
    def failed(self) -> bool:
        """A command that exited non-zero, was killed or was not found: the run exits 1."""
        return self.failures > 0

    def summary(self) -> str | None:
        if not self.ran:
            return None
        return f"exec: ran {self.ran}, {self.failures} failed"


def describe_exit(code: int) -> str:
    """How a child ended, in words: `exited 3`, `killed by SIGKILL`, `not found (exit 127)`."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    if code == 127:
        return "exited 127 (command not found)"
    return f"exited {code}"


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    """The child leads its own process group (start_new_session): signal all of it."""
    try:
        os.killpg(child.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
