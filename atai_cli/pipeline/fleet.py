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

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from atai_cli.client.api import SessionDestroyed
from atai_cli.errors import AtaiError, NotFoundError, StdoutClosed
from atai_cli.output.jsonl import event_line
from atai_cli.pipeline.cursors import CursorStore
from atai_cli.pipeline.filters import EventFilter
from atai_cli.pipeline.sinks import RecordSink, Sink
from atai_cli.protocol import status as st
from atai_cli.protocol.channels import choose_channel, sse_writer
from atai_cli.protocol.records import OutputEvent, StreamStatus

STACK_SIZE = 512 * 1024  # plenty for a follower; keeps 200 threads' reservations small
RESTART_DELAY = 1.0  # before re-opening a discovered session whose stream ended idle
STOP_REASONS = {"max-events": "stopped: --max-events reached", "timeout": "stopped: --timeout reached",
                "idle": "stopped: --idle-exit", "interrupted": "stopped: interrupted", "ended": "stopped"}


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
    last_event_at: float | None = None
    started_at: float = field(default_factory=time.monotonic)
    warnings: list[str] = field(default_factory=list)

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
            since, client_id, offset, skip = self._resume_point(channel)
            fleet.cursors.start(self.session_id, channel, since, client_id, offset, skip)
            while not self.stop.is_set():
                self._follow_once(record, channel)
                if not self._should_restart():
                    break
                since, client_id, offset, skip = self._resume_point(channel)
            if outcome.state != "failed":
                outcome.state = "ended"
                ended_by = self.follower.end_reason if self.follower and not self.stop.is_set() else ""
                outcome.reason = outcome.reason or ended_by or self.stop_reason
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
            if fleet.recorder is not None:
                fleet.recorder.settled(self.session_id)
            if outcome.state == "starting":
                outcome.state, outcome.reason = "ended", self.stop_reason
            fleet.reporter.session_ended(outcome)
            fleet.wake()

    def _resume_point(self, channel: str) -> tuple[str | None, str | None, int, int]:
        saved = self.fleet.cursors.get(self.session_id)
        if saved is not None and saved.channel == channel:
            since, client_id, offset, skip = saved.resume()
            return since, client_id or self.fleet.opts.client_id, offset, skip
        return self.fleet.opts.since, self.fleet.opts.client_id, 0, 0

    def _follow_once(self, record: dict, channel: str) -> None:
        fleet = self.fleet
        since, client_id, offset, skip = self._resume_point(channel)
        cursors = fleet.cursors
        sid = self.session_id
        self.follower = follower = fleet.api.follow(
            record, channel, since=since, client_id=client_id, offset=offset, skip=skip,
            liveness=3 * fleet.opts.heartbeat,
            on_status=self._status_changed,
            before_wait=fleet.flush,
            on_open=fleet.on_open if fleet.on_open else None,
            on_batch=lambda total: cursors.note_read(sid, total),
        )
        if self.stop.is_set():
            follower.stop()
        for event in follower:
            if self.stop.is_set():
                break
            self._handle(event, follower)
        self.outcome.reconnects += follower.status.reconnects

    def _should_restart(self) -> bool:
        """With --lens/--all a session is followed until it is destroyed: a stream the server
        ended while the session still runs is opened again (resuming from its cursor)."""
        fleet = self.fleet
        if not fleet.discovering or self.stop.is_set() or self.follower is None:
            return False
        if self.follower.end_reason != "sse.stream.end":
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
    def _handle(self, event: OutputEvent, follower) -> None:
        fleet = self.fleet
        outcome = self.outcome
        if not event.envelope:
            outcome.received += 1
            outcome.last_event_at = fleet.last_output = time.monotonic()
            if fleet.recorder is not None:
                fleet.recorder.write(event)
        server_offset = getattr(follower, "read_count", None)
        if not fleet.filter.keep(event):
            fleet.cursors.advance(self.session_id, event.id, server_offset)
            return
        last = fleet.claim()
        if last is None:
            return  # --max-events already reached by other sessions
        line = event_line(event, fleet.opts.shape)
        for sink in fleet.sinks:
            if not sink.take(event, line, self.stop):
                return  # stopping before this sink finished: the cursor stays before it
        fleet.cursors.advance(self.session_id, event.id, server_offset)
        outcome.events += 1
        if last:
            fleet.request_stop("max-events")


def channel_warnings(record: dict, channel: str, opts: FollowOptions) -> list[str]:
    warnings = []
    if opts.channel == "sse" and not sse_writer(record.get("lens_config")):
        warnings.append("its lens has no SSE writer, so nothing may arrive on the SSE channel "
                        "(attach one with `atai stream output`, or use --channel auto)")
    if channel == "read" and opts.since:
        warnings.append("--since applies to the SSE channel only; the read channel resumes by client id")
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
        recorder: RecordSink | None = None,
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
        self.last_output = time.monotonic()
        self._cond = threading.Condition()
        self._stop_reason: str | None = None
        self._claimed = 0
        self._claim_lock = threading.Lock()

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

    def flush(self) -> None:
        for sink in self.sinks:
            sink.flush()

    # -- the main loop ------------------------------------------------------------------
    def add(self, session_id: str, record: dict | None = None) -> None:
        if session_id in self.workers:
            return
        worker = _Worker(self, session_id, record)
        self.workers[session_id] = worker
        previous = threading.stack_size()
        try:
            threading.stack_size(STACK_SIZE)
            worker.thread.start()
        finally:
            threading.stack_size(previous)

    def _discover(self) -> None:
        try:
            found = self.discover() if self.discover else []
        except AtaiError:
            return  # the next round tries again; following sessions go on meanwhile
        for record in found:
            sid = record.get("session_id")
            if sid and sid not in self.workers and record.get("session_status") not in st.ENDED:
                self.add(sid)

    def run(self, session_ids: list[str] = ()) -> FleetResult:
        for sid in session_ids:
            self.add(sid)
        opts = self.opts
        deadline = time.monotonic() + opts.timeout if opts.timeout else None
        next_discovery = time.monotonic() if self.discovering else None
        stopped_by = "ended"
        try:
            while True:
                now = time.monotonic()
                if next_discovery is not None and now >= next_discovery:
                    self._discover()
                    next_discovery = now + opts.discover_interval
                with self._cond:
                    if self._stop_reason is None and (self.discovering or any(w.thread.is_alive() for w in self.workers.values())):
                        waits = [0.25]
                        if deadline is not None:
                            waits.append(deadline - now)
                        if next_discovery is not None:
                            waits.append(next_discovery - now)
                        if opts.idle_exit:
                            waits.append(self.last_output + opts.idle_exit - now)
                        self._cond.wait(max(0.0, min(waits)))
                    reason = self._stop_reason
                now = time.monotonic()
                self.cursors.save_if_due()
                if reason is not None:
                    stopped_by = reason
                    break
                if not self.discovering and not any(w.thread.is_alive() for w in self.workers.values()):
                    break
                if deadline is not None and now >= deadline:
                    stopped_by = "timeout"
                    break
                if opts.idle_exit and now - self.last_output >= opts.idle_exit:
                    stopped_by = "idle"
                    break
        except KeyboardInterrupt:
            stopped_by = "interrupted"
        finally:
            self._shutdown(STOP_REASONS.get(stopped_by, stopped_by))
        outcomes = [w.outcome for w in self.workers.values()]
        return FleetResult(outcomes, stopped_by, sum(o.events for o in outcomes))

    def _shutdown(self, reason: str) -> None:
        for worker in self.workers.values():
            worker.halt(reason)
        deadline = time.monotonic() + 3.0 + (2.5 if any(getattr(s, "GRACE", 0) for s in self.sinks) else 0)
        for worker in self.workers.values():
            worker.thread.join(max(0.0, deadline - time.monotonic()))
        try:
            self.flush()
        except StdoutClosed:
            pass
        self.cursors.save()
        if self.recorder is not None:
            self.recorder.close()
        for sink in self.sinks:
            sink.close()
