"""One followed session's life, in its own thread, and one event's path through it.

Per event: record it (--record sees everything) -> filters (--envelope, --type,
--changes-only) -> --max-events slot -> each sink in turn (stdout or the live view,
--forward-to, --exec) -> the session's cursor moves past it. The supervisor (pipeline/fleet.py)
starts workers and stops them; what they share is a FleetShared.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from atai_cli.client.api import SessionDestroyed
from atai_cli.errors import AtaiError, NotFoundError, StdoutClosed
from atai_cli.output.jsonl import event_line
from atai_cli.pipeline.cursors import CursorStore, since_position
from atai_cli.pipeline.filters import EventFilter
from atai_cli.pipeline.follow_options import FollowOptions
from atai_cli.pipeline.recorder import Recorder
from atai_cli.pipeline.sinks import Sink
from atai_cli.protocol import status
from atai_cli.protocol.channels import choose_channel, sse_writer
from atai_cli.protocol.outcomes import Reporter, SessionOutcome, SessionState
from atai_cli.protocol.events import ENVELOPE_PREFIX, STREAM_END, OutputEvent, StreamStatus
from atai_cli.protocol.stops import StopReason

# A follower needs little stack; 200 threads' reservations stay small. The command edge sets it
# (threading.stack_size is process-wide: see commands/following.py).
WORKER_STACK_SIZE = 512 * 1024
RESTART_DELAY = 1.0  # before re-opening a discovered session whose stream ended idle


class EventBudget:
    """The --max-events count, shared by every session of a fleet (its own lock)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._claimed = 0
        self._lock = threading.Lock()

    def claim(self) -> bool | None:
        """A slot for one more event: None when none is left, True for the last."""
        if self.limit is None:
            return False
        with self._lock:
            if self._claimed >= self.limit:
                return None
            self._claimed += 1
            return self._claimed == self.limit


class Activity:
    """What --idle-exit looks at: when lens output last arrived, and how many events a sink holds
    right now (a forward retrying, a command running). One lock, because both are read together."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy = 0
        self._last_output = time.monotonic()

    def note_output(self) -> None:
        with self._lock:
            self._last_output = time.monotonic()

    @property
    def last_output(self) -> float:
        with self._lock:
            return self._last_output

    @contextmanager
    def busy(self) -> Iterator[None]:
        """An event is inside the sinks: --idle-exit does not count while one is; its end counts
        as output."""
        with self._lock:
            self._busy += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1
                self._last_output = time.monotonic()

    def idle(self, now: float, limit: float) -> bool:
        with self._lock:
            return self._busy == 0 and now - self._last_output >= limit


@dataclass
class FleetShared:
    """What every worker of one fleet shares; the fleet builds it and keeps the stop switch."""

    api: Any
    opts: FollowOptions
    sinks: list[Sink]
    reporter: Reporter
    filter: EventFilter
    cursors: CursorStore
    recorder: Recorder | None
    request_stop: Callable[[StopReason], None]
    wake: Callable[[], None]
    discovering: bool = False
    on_open: Callable[[], None] | None = None
    budget: EventBudget = field(init=False)
    activity: Activity = field(default_factory=Activity)
    holding_sinks: bool = field(init=False)

    def __post_init__(self) -> None:
        self.budget = EventBudget(self.opts.max_events)
        # Only sinks that can hold an event for long need the --idle-exit busy bookkeeping.
        self.holding_sinks = any(sink.HOLDS for sink in self.sinks)

    def claim(self) -> bool | None:
        return self.budget.claim()

    def busy(self):
        return self.activity.busy()

    def flush(self, timeout: float | None = None) -> bool:
        ok = True
        for sink in self.sinks:
            ok = sink.flush(timeout) and ok
        return ok


class Worker:
    def __init__(self, fleet: FleetShared, session_id: str, record: dict | None) -> None:
        self.fleet = fleet
        self.session_id = session_id
        self.record = record
        self.outcome = SessionOutcome(session_id, lens_id=(record or {}).get("lens_id"))
        self.stop = threading.Event()
        self.stop_reason = StopReason.ENDED
        self.follower: Any = None
        self._server_cursor = False  # the follower keeps a server cursor (read_count, client_id)
        self.thread = threading.Thread(target=self._run, name=f"follow-{session_id}", daemon=True)

    def halt(self, reason: StopReason = StopReason.ENDED) -> None:
        if not self.stop.is_set():
            self.stop_reason = reason
        self.stop.set()
        follower = self.follower
        if follower is not None:
            follower.stop()

    # -- the session's life -----------------------------------------------------------
    def _run(self) -> None:
        fleet = self.fleet
        outcome = self.outcome
        try:
            record = self.record or fleet.api.session_status(self.session_id)
            channel, why = choose_channel(record.get("lens_config"), fleet.opts.channel)
            outcome.lens_id, outcome.channel, outcome.why = record.get("lens_id"), channel, why
            if fleet.recorder is not None:
                fleet.recorder.add_session(self.session_id, outcome.lens_id, channel)
            if record.get("session_status") != status.RUNNING:
                record = fleet.api.wait_running(self.session_id, fleet.opts.wait_timeout)
            if self.stop.is_set():
                return
            outcome.warnings = channel_warnings(record, channel, fleet.opts)
            outcome.state = SessionState.FOLLOWING
            fleet.reporter.session_started(outcome)
            resume = self._resume_point(channel)
            fleet.cursors.start(self.session_id, channel, *resume)
            started = fleet.cursors.get(self.session_id)
            if started is not None and started.changes:
                fleet.filter.resume(self.session_id, started.changes_path, started.changes)
            while not self.stop.is_set():
                ended_by = self._follow_once(record, channel, resume)
                if not self._should_restart(ended_by):
                    break
                resume = self._resume_point(channel)
            if outcome.state != SessionState.FAILED:
                outcome.state = SessionState.ENDED
                if self.stop.is_set():
                    outcome.stopped_by = self.stop_reason
                outcome.reason = outcome.reason or ("" if self.stop.is_set() else ended_by) or self.stop_reason.description
        except StdoutClosed:
            outcome.state, outcome.stopped_by = SessionState.ENDED, StopReason.STDOUT_CLOSED
            outcome.reason = StopReason.STDOUT_CLOSED.description
            fleet.request_stop(StopReason.STDOUT_CLOSED)
        except SessionDestroyed:
            outcome.state, outcome.reason = SessionState.ENDED, "session was already destroyed"
        except AtaiError as exc:
            outcome.state, outcome.reason, outcome.error = SessionState.FAILED, exc.message, exc
        except Exception as exc:  # noqa: BLE001 - one session's bug must not stop the others
            outcome.state, outcome.reason, outcome.error = SessionState.FAILED, f"{type(exc).__name__}: {exc}", exc
        finally:
            self.follower = None  # its dedup window and buffers go with it (long --all runs)
            if fleet.recorder is not None:
                fleet.recorder.settled(self.session_id)
            if outcome.state == SessionState.STARTING:
                outcome.state, outcome.stopped_by = SessionState.ENDED, self.stop_reason
                outcome.reason = self.stop_reason.description
            fleet.reporter.session_ended(outcome)
            fleet.wake()

    def _resume_point(self, channel: str) -> tuple[str | None, str | None, int | None, int]:
        """(since, client_id, offset, skip): from the cursor file or this run's progress, else
        from the command line (on the read channel --since is a mailbox position: a new reader
        plays the mailbox from its start and passes over it)."""
        saved = self.fleet.cursors.resume_point(self.session_id, channel)
        if saved is not None:
            since, client_id, offset, skip = saved
            return since, client_id or self.fleet.opts.client_id, offset, skip
        since = self.fleet.opts.since
        if channel == "read" and since is not None:
            from atai_cli.client.mailbox_follower import new_client_id

            return None, new_client_id(), 0, since_position(since)
        opts = self.fleet.opts
        return since, opts.client_id, None if opts.client_id_given and channel == "read" else 0, 0

    def _follow_once(self, record: dict, channel: str, resume: tuple) -> str:
        """Follow until the stream ends or the worker stops; how it ended."""
        fleet = self.fleet
        since, client_id, offset, skip = resume
        cursors = fleet.cursors
        sid = self.session_id
        self.follower = follower = fleet.api.follow(
            record, channel, since=since, client_id=client_id, offset=offset, skip=skip,
            liveness=3 * fleet.opts.heartbeat,
            on_status=self._status_changed,
            before_wait=fleet.flush,
            on_open=fleet.on_open if fleet.on_open else None,
            on_batch=lambda total, client_id=None: cursors.note_read(sid, total, client_id),
            on_warning=lambda text: cursors.warn(sid, text),
        )
        self._server_cursor = follower.channel == "read"
        if self.stop.is_set():
            follower.stop()
        try:
            for event in follower:
                if self.stop.is_set() or not self._handle(event, follower):
                    break
        finally:
            self.outcome.reconnects += follower.status.reconnects
            if isinstance(getattr(follower, "read_count", None), int):
                self._note_unread(follower)
        return follower.end_reason

    def _note_unread(self, follower) -> None:
        """Mailbox messages the server handed over but this run did not hand on: the server's
        cursor for this client_id is past them (what matters when --client-id named one)."""
        cursor = self.fleet.cursors.get(self.session_id)
        if cursor is not None and self.fleet.cursors.path is None:
            self.outcome.unread = max(0, follower.read_count - cursor.position)

    def _should_restart(self, ended_by: str) -> bool:
        """With --lens/--all a session is followed until it is destroyed: a stream the server
        ended while the session still runs is opened again (resuming from its cursor)."""
        fleet = self.fleet
        if not fleet.discovering or self.stop.is_set() or ended_by != STREAM_END:
            return False
        if self.stop.wait(RESTART_DELAY):
            return False
        try:
            record = fleet.api.session_status(self.session_id)
        except NotFoundError:
            self.outcome.reason = "session was destroyed"
            return False
        return record.get("session_status") == status.RUNNING

    def _status_changed(self, status: StreamStatus) -> None:
        self.outcome.status = status
        self.fleet.reporter.status_changed(self.outcome, status)

    # -- one event --------------------------------------------------------------------
    def _handle(self, event: OutputEvent, follower) -> bool:
        """One event through the recorder, the filters and the sinks; False to stop following
        (the cursor then stays before this event, and moves no further)."""
        fleet = self.fleet
        outcome = self.outcome
        kind = event.type
        envelope = kind is not None and kind.startswith(ENVELOPE_PREFIX)  # event.envelope, inline
        if not envelope:
            outcome.received += 1
            if fleet.opts.idle_exit:  # only --idle-exit reads it: no lock and clock per event otherwise
                fleet.activity.note_output()
        if self._server_cursor:  # the read channel's: looked up per event, it moves
            server_offset = getattr(follower, "read_count", None)
            client_id = getattr(follower, "client_id", None)
        else:
            server_offset = client_id = None
        cursors = fleet.cursors
        cursors.seen(self.session_id, event.id)
        # The recording takes each event as its cursor moves past it (filtered or handed on),
        # so a stop while a sink holds one leaves it out, and the --record-append restart,
        # which resumes before it, records it once.
        recorder = None if envelope else fleet.recorder
        passed_over = (envelope or fleet.filter.filtering) and not fleet.filter.keep(event)
        if not passed_over:
            line = event_line(event, fleet.opts.shape)
            if line is None:  # data that is not JSON, without --meta: stdout says so; not printed or counted
                self._take(event, None)
                passed_over = True
        if passed_over:
            if recorder is not None:
                recorder.write(event)
            cursors.advance(self.session_id, event.id, server_offset, client_id)
            return True
        last = fleet.claim()
        if last is None:
            return False  # --max-events reached by other sessions: this one stops here
        if fleet.holding_sinks:
            with fleet.busy():
                taken = self._take(event, line)
        else:
            taken = self._take(event, line)
        if not taken:
            return False  # stopping before a sink finished
        if recorder is not None:
            recorder.write(event)
        # Kept only where a cursor file keeps it (another walk of the path, and a dict per event).
        change = fleet.filter.kept_change(event) if fleet.filter.path is not None and cursors.path is not None else None
        cursors.advance(self.session_id, event.id, server_offset, client_id, change)
        outcome.events += 1
        if last:
            fleet.request_stop(StopReason.MAX_EVENTS)
            return False
        return True

    def _take(self, event: OutputEvent, line: str | None) -> bool:
        stop = self.stop
        for sink in self.fleet.sinks:
            if not sink.take(event, line, stop):
                return False
        return True


def channel_warnings(record: dict, channel: str, opts: FollowOptions) -> list[str]:
    warnings = []
    if opts.channel == "sse" and not sse_writer(record.get("lens_config")):
        warnings.append("its lens has no SSE writer, so nothing may arrive on the SSE channel "
                        "(attach one with `atai stream output`, or use --channel auto)")
    return warnings
