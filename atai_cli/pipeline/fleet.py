"""Following one or many sessions in one process: a worker thread per session, one main loop.

Why threads: a followed session spends nearly all its time blocked in a socket read (an SSE
stream) or asleep between session.read polls, so a thread per session costs a stack that is
mostly untouched virtual memory and no CPU; reads and polls of different sessions never queue
behind each other, and a session that is slow, reconnecting, or held back by its forward
receiver holds only its own thread. The work per event (a write to stdout under a lock, a
cursor update) is tiny next to the network, so the GIL is not the bottleneck. See
docs/architecture.md for the numbers.

Per event, in the session's own thread: record it (--record sees everything) -> filters
(--envelope, --type, --changes-only) -> --max-events slot -> each sink in turn (stdout or the
live view, --forward-to, --exec) -> the session's cursor moves past it. The main thread only
starts workers, discovers sessions, enforces --timeout / --idle-exit, saves the cursor file,
and stops everything on Ctrl-C.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

from atai_cli.client.api import SessionDestroyed
from atai_cli.errors import AtaiError, NotFoundError, StdoutClosed
from atai_cli.output.jsonl import event_line
from atai_cli.pipeline.cursors import CursorStore, since_position
from atai_cli.pipeline.filters import EventFilter
from atai_cli.pipeline.recorder import Recorder
from atai_cli.pipeline.sinks import Sink
from atai_cli.protocol import status as st
from atai_cli.protocol.channels import choose_channel, sse_writer
from atai_cli.protocol.records import OutputEvent, StreamStatus

STACK_SIZE = 512 * 1024  # plenty for a follower; keeps 200 threads' reservations small
RESTART_DELAY = 1.0  # before re-opening a discovered session whose stream ended idle
STOP_REASONS = {"max-events": "stopped: --max-events reached", "timeout": "stopped: --timeout reached",
                "idle": "stopped: --idle-exit", "interrupted": "stopped: interrupted",
                "terminated": "stopped: terminated", "ended": "stopped"}
FLUSH_WAIT = 1.0  # at exit, how long to wait for stdout if a writer is stuck on a full pipe


class Terminated(KeyboardInterrupt):
    """SIGTERM: stop as for Ctrl-C (cursors saved, recording closed), exit 143."""


@dataclass
class FollowOptions:
    channel: str = "auto"
    since: str | None = None  # only for a single session named on the command line
    client_id: str = ""
    heartbeat: float = 5.0
    wait_timeout: float = 60.0  # how long a session may take to be RUNNING
    max_events: int | None = None
    timeout: float | None = None
    idle_exit: float | None = None
    discover_interval: float = 5.0
    shape: str = "data"  # how a printed line looks (output.jsonl SHAPE_*)


@dataclass
class SessionOutcome:
    session_id: str
    lens_id: str | None = None
    channel: str | None = None
    why: str = ""
    events: int = 0  # handed to every sink
    received: int = 0  # lens output events received (before filters)
    reconnects: int = 0
    state: str = "starting"  # starting | following | ended | failed
    reason: str = ""
    error: BaseException | None = None
    status: StreamStatus | None = None
    warnings: list[str] = field(default_factory=list)
    unread: int = 0  # mailbox messages read from the server but not handed on (no cursor file)

    @property
    def failed(self) -> bool:
        return self.state == "failed"


class Reporter:
    """What the fleet tells the person: session starts and ends, connection changes.
    The line reporter (off a terminal) prints; the live views show them instead."""

    def session_started(self, outcome: SessionOutcome) -> None: ...

    def session_ended(self, outcome: SessionOutcome) -> None: ...

    def status_changed(self, outcome: SessionOutcome, status: StreamStatus) -> None: ...


class _Worker:
    def __init__(self, fleet: "Fleet", session_id: str, record: dict | None) -> None:
        self.fleet = fleet
        self.session_id = session_id
        self.record = record
        self.outcome = SessionOutcome(session_id, lens_id=(record or {}).get("lens_id"))
        self.stop = threading.Event()
        self.stop_reason = "stopped"
        self.follower: Any = None
        self.thread = threading.Thread(target=self._run, name=f"follow-{session_id}", daemon=True)

    def halt(self, reason: str = "stopped") -> None:
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
            if record.get("session_status") != st.RUNNING:
                record = fleet.api.wait_running(self.session_id, fleet.opts.wait_timeout)
            if self.stop.is_set():
                return
            outcome.warnings = channel_warnings(record, channel, fleet.opts)
            outcome.state = "following"
            fleet.reporter.session_started(outcome)
            resume = self._resume_point(channel)
            fleet.cursors.start(self.session_id, channel, *resume)
            while not self.stop.is_set():
                ended_by = self._follow_once(record, channel, resume)
                if not self._should_restart(ended_by):
                    break
                resume = self._resume_point(channel)
            if outcome.state != "failed":
                outcome.state = "ended"
                outcome.reason = outcome.reason or ("" if self.stop.is_set() else ended_by) or self.stop_reason
        except StdoutClosed:
            outcome.state, outcome.reason = "ended", "stdout closed"
            fleet.request_stop("stdout closed")
        except SessionDestroyed:
            outcome.state, outcome.reason = "ended", "session was already destroyed"
        except AtaiError as exc:
            outcome.state, outcome.reason, outcome.error = "failed", exc.message, exc
        except Exception as exc:  # noqa: BLE001 - one session's bug must not stop the others
            outcome.state, outcome.reason, outcome.error = "failed", f"{type(exc).__name__}: {exc}", exc
        finally:
            self.follower = None  # its dedup window and buffers go with it (long --all runs)
            if fleet.recorder is not None:
                fleet.recorder.settled(self.session_id)
            if outcome.state == "starting":
                outcome.state, outcome.reason = "ended", self.stop_reason
            fleet.reporter.session_ended(outcome)
            fleet.wake()

    def _resume_point(self, channel: str) -> tuple[str | None, str | None, int, int]:
        """(since, client_id, offset, skip): from the cursor file or this run's progress, else
        from the command line (on the read channel --since is a mailbox position: a new reader
        plays the mailbox from its start and passes over it)."""
        saved = self.fleet.cursors.get(self.session_id)
        if saved is not None and saved.channel == channel:
            since, client_id, offset, skip = saved.resume()
            return since, client_id or self.fleet.opts.client_id, offset, skip
        since = self.fleet.opts.since
        if channel == "read" and since is not None:
            from atai_cli.client.mailbox_follower import new_client_id

            return None, new_client_id(), 0, since_position(since)
        return since, self.fleet.opts.client_id, 0, 0

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
        if not fleet.discovering or self.stop.is_set() or ended_by != "sse.stream.end":
            return False
        if self.stop.wait(RESTART_DELAY):
            return False
        try:
            record = fleet.api.session_status(self.session_id)
        except NotFoundError:
            self.outcome.reason = "session was destroyed"
            return False
        return record.get("session_status") == st.RUNNING

    def _status_changed(self, status: StreamStatus) -> None:
        self.outcome.status = status
        self.fleet.reporter.status_changed(self.outcome, status)

    # -- one event --------------------------------------------------------------------
    def _handle(self, event: OutputEvent, follower) -> bool:
        """One event through the recorder, the filters and the sinks; False to stop following
        (the cursor then stays before this event, and moves no further)."""
        fleet = self.fleet
        outcome = self.outcome
        envelope = event.envelope
        if not envelope:
            outcome.received += 1
            fleet.last_output = time.monotonic()
            if fleet.recorder is not None:
                fleet.recorder.write(event)
        server_offset = getattr(follower, "read_count", None)
        client_id = getattr(follower, "client_id", None)
        fleet.cursors.seen(self.session_id, event.id)
        if (envelope or fleet.filter.filtering) and not fleet.filter.keep(event):
            fleet.cursors.advance(self.session_id, event.id, server_offset, client_id)
            return True
        last = fleet.claim()
        if last is None:
            return False  # --max-events reached by other sessions: this one stops here
        line = event_line(event, fleet.opts.shape)
        if fleet.holding_sinks:
            with fleet.busy():
                taken = self._take(event, line)
        else:
            taken = self._take(event, line)
        if not taken:
            return False  # stopping before a sink finished
        fleet.cursors.advance(self.session_id, event.id, server_offset, client_id)
        outcome.events += 1
        if last:
            fleet.request_stop("max-events")
            return False
        return True


    def _take(self, event: OutputEvent, line: str | None) -> bool:
        for sink in self.fleet.sinks:
            if not sink.take(event, line, self.stop):
                return False
        return True


def channel_warnings(record: dict, channel: str, opts: FollowOptions) -> list[str]:
    warnings = []
    if opts.channel == "sse" and not sse_writer(record.get("lens_config")):
        warnings.append("its lens has no SSE writer, so nothing may arrive on the SSE channel "
                        "(attach one with `atai stream output`, or use --channel auto)")
    return warnings


@dataclass
class FleetResult:
    outcomes: list[SessionOutcome]
    stopped_by: str  # ended | max-events | timeout | idle | interrupted | stdout closed
    printed: int


class Fleet:
    def __init__(
        self,
        api,
        opts: FollowOptions,
        *,
        sinks: list[Sink],
        reporter: Reporter,
        filter: EventFilter | None = None,
        cursors: CursorStore | None = None,
        recorder: Recorder | None = None,
        discover: Callable[[], list[dict]] | None = None,
        on_open: Callable[[], None] | None = None,
    ) -> None:
        self.api = api
        self.opts = opts
        self.sinks = sinks
        self.reporter = reporter
        self.filter = filter or EventFilter()
        self.cursors = cursors or CursorStore(None)
        self.recorder = recorder
        self.discover = discover
        self.on_open = on_open
        self.workers: dict[str, _Worker] = {}
        self._workers_lock = threading.Lock()
        self.last_output = time.monotonic()
        self._cond = threading.Condition()
        self._stop_reason: str | None = None
        self._claimed = 0
        self._claim_lock = threading.Lock()
        self._busy = 0  # events a sink holds right now (a forward retrying, a command running)
        # Only sinks that can hold an event for long need the --idle-exit bookkeeping.
        self.holding_sinks = any(sink.HOLDS for sink in sinks)

    @property
    def discovering(self) -> bool:
        return self.discover is not None

    # -- called from workers ------------------------------------------------------------
    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def request_stop(self, reason: str) -> None:
        with self._cond:
            if self._stop_reason is None:
                self._stop_reason = reason
            self._cond.notify_all()

    def claim(self) -> bool | None:
        """A --max-events slot for one more event: None when none is left, True for the last."""
        limit = self.opts.max_events
        if limit is None:
            return False
        with self._claim_lock:
            if self._claimed >= limit:
                return None
            self._claimed += 1
            return self._claimed == limit

    @contextmanager
    def busy(self):
        """An event is inside the sinks: --idle-exit does not count while one is."""
        with self._claim_lock:
            self._busy += 1
        try:
            yield
        finally:
            with self._claim_lock:
                self._busy -= 1
                self.last_output = time.monotonic()

    def flush(self, timeout: float | None = None) -> bool:
        ok = True
        for sink in self.sinks:
            ok = sink.flush(timeout) and ok
        return ok

    # -- the main loop ------------------------------------------------------------------
    def add(self, session_id: str, record: dict | None = None) -> None:
        with self._workers_lock:
            if session_id in self.workers or self._stop_reason is not None:
                return
            worker = _Worker(self, session_id, record)
            self.workers[session_id] = worker
            previous = threading.stack_size()
            try:
                threading.stack_size(STACK_SIZE)
                worker.thread.start()
            finally:
                threading.stack_size(previous)

    def _all_workers(self) -> list[_Worker]:
        with self._workers_lock:
            return list(self.workers.values())

    def _discovery(self, stop: threading.Event) -> None:
        """Its own thread: a slow metadata request never holds up saves or --timeout."""
        while not stop.is_set():
            try:
                found = self.discover() if self.discover else []
            except AtaiError:
                found = []  # the next round tries again; following sessions go on meanwhile
            for record in found:
                sid = record.get("session_id")
                if sid and record.get("session_status") not in st.ENDED:
                    self.add(sid)
            stop.wait(self.opts.discover_interval)

    def _idle(self, now: float) -> bool:
        with self._claim_lock:
            return self._busy == 0 and now - self.last_output >= self.opts.idle_exit  # type: ignore[operator]

    def run(self, session_ids: list[str] = ()) -> FleetResult:
        for sid in session_ids:
            self.add(sid)
        opts = self.opts
        deadline = time.monotonic() + opts.timeout if opts.timeout else None
        stop_discovery = threading.Event()
        if self.discovering:
            threading.Thread(target=self._discovery, args=(stop_discovery,), name="discovery", daemon=True).start()
        stopped_by = "ended"
        previous_term = _on_sigterm()
        try:
            while True:
                now = time.monotonic()
                with self._cond:
                    if self._stop_reason is None and (self.discovering or any(w.thread.is_alive() for w in self._all_workers())):
                        waits = [0.25]
                        if deadline is not None:
                            waits.append(deadline - now)
                        if opts.idle_exit:
                            waits.append(self.last_output + opts.idle_exit - now)
                        self._cond.wait(max(0.0, min(waits)))
                    reason = self._stop_reason
                now = time.monotonic()
                self.cursors.save_if_due()
                if reason is not None:
                    stopped_by = reason
                    break
                if not self.discovering and not any(w.thread.is_alive() for w in self._all_workers()):
                    break
                if deadline is not None and now >= deadline:
                    stopped_by = "timeout"
                    break
                if opts.idle_exit and self._idle(now):
                    stopped_by = "idle"
                    break
        except Terminated:
            stopped_by = "terminated"
        except KeyboardInterrupt:
            stopped_by = "interrupted"
        finally:
            stop_discovery.set()
            self.request_stop(stopped_by)
            try:
                self._shutdown(STOP_REASONS.get(stopped_by, stopped_by))
            finally:
                _restore_sigterm(previous_term)
        outcomes = [w.outcome for w in self._all_workers()]
        return FleetResult(outcomes, stopped_by, sum(o.events for o in outcomes))

    def _shutdown(self, reason: str) -> None:
        """Stop every worker and save where each stopped. Progress is saved before waiting for
        anyone (a second Ctrl-C then loses nothing), and once more when all have stopped."""
        workers = self._all_workers()
        for worker in workers:
            worker.halt(reason)
        try:
            self.cursors.save()
            grace = 2.0 + max((sink.GRACE for sink in self.sinks), default=0.0)
            deadline = time.monotonic() + grace
            for worker in workers:
                worker.thread.join(max(0.0, deadline - time.monotonic()))
        finally:
            try:
                flushed = self.flush(timeout=FLUSH_WAIT)
            except StdoutClosed:
                flushed = False
            if flushed:
                self.cursors.commit()
            self.cursors.save(clean=flushed)
            if self.recorder is not None:
                self.recorder.close()
            for sink in self.sinks:
                sink.close()


def _on_sigterm():
    """While following, SIGTERM stops like Ctrl-C (main thread only: signals are delivered there)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise Terminated()

    try:
        return signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):
        return None


def _restore_sigterm(previous) -> None:
    if previous is not None:
        try:
            signal.signal(signal.SIGTERM, previous)
        except (ValueError, OSError):
            pass
