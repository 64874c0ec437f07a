"""Following one or many sessions in one process: the supervisor of a worker thread per session.

Why threads: a followed session spends nearly all its time blocked in a socket read (an SSE
stream) or asleep between session.read polls, so a thread per session costs a stack that is
mostly untouched virtual memory and no CPU; reads and polls of different sessions never queue
behind each other, and a session that is slow, reconnecting, or held back by its forward
receiver holds only its own thread. The work per event (a write to stdout under a lock, a
cursor update) is tiny next to the network, so the GIL is not the bottleneck. See
docs/architecture.md for the numbers.

Each session's life and each event's path are the worker's (pipeline/worker.py). The main
thread, here, only starts workers, discovers sessions, enforces --timeout / --idle-exit, saves
the cursor file, and stops everything on Ctrl-C or request_stop() (the command edge calls it
on SIGTERM).
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from atai_cli.errors import AtaiError, StdoutClosed
from atai_cli.pipeline.cursors import CursorStore
from atai_cli.pipeline.filters import EventFilter
from atai_cli.pipeline.follow_options import FollowOptions
from atai_cli.pipeline.recorder import Recorder
from atai_cli.pipeline.sinks import Sink
from atai_cli.pipeline.worker import FleetShared, Worker
from atai_cli.protocol import status
from atai_cli.protocol.outcomes import FleetResult, Reporter, SessionOutcome
from atai_cli.protocol.stops import StopReason

__all__ = ["Fleet", "FleetResult", "SessionOutcome"]

FLUSH_WAIT = 1.0  # at exit, how long to wait for stdout if a writer is stuck on a full pipe
TICK = 0.25  # the main loop looks at the clock at least this often


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
        stdout_gone: Callable[[], bool] | None = None,
    ) -> None:
        self.opts = opts
        self.discover = discover
        self._stdout_gone = stdout_gone  # the reader of piped stdout went away (checked every tick)
        self.shared = FleetShared(
            api, opts, sinks, reporter, filter or EventFilter(), cursors or CursorStore(None), recorder,
            request_stop=self.request_stop, wake=self.wake, discovering=discover is not None, on_open=on_open,
        )
        self.workers: dict[str, Worker] = {}
        self._workers_lock = threading.Lock()
        self._cond = threading.Condition()  # guards _stop_reason; workers wake the main loop with it
        self._stop_reason: StopReason | None = None

    @property
    def discovering(self) -> bool:
        return self.discover is not None

    # -- called from workers, and from the command edge ---------------------------------
    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def request_stop(self, reason: StopReason) -> None:
        """Stop the follow for this reason (the first one given wins). Safe from a signal
        handler in the main thread: the condition's lock is re-entrant."""
        with self._cond:
            if self._stop_reason is None:
                self._stop_reason = reason
            self._cond.notify_all()

    # -- the main loop ------------------------------------------------------------------
    def add(self, session_id: str, record: dict | None = None) -> None:
        with self._workers_lock:
            if session_id in self.workers or self._stop_reason is not None:
                return
            worker = Worker(self.shared, session_id, record)
            self.workers[session_id] = worker
            worker.thread.start()

    def _all_workers(self) -> list[Worker]:
        with self._workers_lock:
            return list(self.workers.values())

    def _any_alive(self) -> bool:
        return any(w.thread.is_alive() for w in self._all_workers())

    def _discovery(self, stop: threading.Event) -> None:
        """Its own thread: a slow metadata request never holds up saves or --timeout."""
        while not stop.is_set():
            try:
                found = self.discover() if self.discover else []
            except AtaiError:
                found = []  # the next round tries again; following sessions go on meanwhile
            for record in found:
                sid = record.get("session_id")
                if sid and record.get("session_status") not in status.ENDED:
                    self.add(sid)
            stop.wait(self.opts.discover_interval)

    def run(self, session_ids: list[str] = ()) -> FleetResult:
        for sid in session_ids:
            self.add(sid)
        opts = self.opts
        activity = self.shared.activity
        deadline = time.monotonic() + opts.timeout if opts.timeout else None
        stop_discovery = threading.Event()
        if self.discovering:
            threading.Thread(target=self._discovery, args=(stop_discovery,), name="discovery", daemon=True).start()
        stopped_by = StopReason.ENDED
        try:
            while True:
                now = time.monotonic()
                with self._cond:
                    if self._stop_reason is None and (self.discovering or self._any_alive()):
                        waits = [TICK]
                        if deadline is not None:
                            waits.append(deadline - now)
                        if opts.idle_exit:
                            waits.append(activity.last_output + opts.idle_exit - now)
                        self._cond.wait(max(0.0, min(waits)))
                    reason = self._stop_reason
                now = time.monotonic()
                self.shared.cursors.save_if_due()
                if reason is not None:
                    stopped_by = reason
                    break
                if self._stdout_gone is not None and self._stdout_gone():
                    stopped_by = StopReason.STDOUT_CLOSED  # `| head -1` is done: a quiet end, now
                    break
                if not self.discovering and not self._any_alive():
                    break
                if deadline is not None and now >= deadline:
                    stopped_by = StopReason.TIMEOUT
                    break
                if opts.idle_exit and activity.idle(now, opts.idle_exit):
                    stopped_by = StopReason.IDLE
                    break
        except KeyboardInterrupt:
            stopped_by = StopReason.INTERRUPTED
        finally:
            stop_discovery.set()
            self.request_stop(stopped_by)
            self._shutdown(stopped_by)
        outcomes = [w.outcome for w in self._all_workers()]
        return FleetResult(outcomes, stopped_by, sum(o.events for o in outcomes))

    def _shutdown(self, reason: StopReason) -> None:
        """Stop every worker and save where each stopped. Progress is saved before waiting for
        anyone (a second Ctrl-C then loses nothing), and once more when all have stopped."""
        shared = self.shared
        cursors = shared.cursors
        workers = self._all_workers()
        for worker in workers:
            worker.halt(reason)
        try:
            cursors.save()
            grace = 2.0 + max((sink.GRACE for sink in shared.sinks), default=0.0)
            deadline = time.monotonic() + grace
            for worker in workers:
                worker.thread.join(max(0.0, deadline - time.monotonic()))
        finally:
            try:
                flushed = shared.flush(timeout=FLUSH_WAIT)
            except StdoutClosed:
                flushed = False
            if flushed:
                cursors.commit()
            cursors.save(clean=flushed)
            if shared.recorder is not None:
                shared.recorder.close()
            for sink in shared.sinks:
                sink.close()
