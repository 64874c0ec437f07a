"""The session's model: inputs in, outputs out, one at a time, `model_latency_s` each.

On the real platform Newton takes seconds per inference: about one result per second per
session, the first one a while after the input (lens-api.md 5.2). That delay is what lets
the SDK's REST example push its data first and open the SSE consumer afterwards. So every
processor hands its computed result to `Inference`, which emits it once the "model" is done:

- one inference at a time per session, each lasting `model_latency_s` (read per inference,
  so POST /_emulator/config changes it at once);
- readers of files and cameras wait while one result is already queued (`submit`), as a
  real reader feeds a busy model no faster than it answers; pushed data (session.update)
  cannot be held back, so it queues without limit (`submit_nowait`). Unlike the real runner
  (which silently drops what overflows a ~20-window buffer) nothing is dropped;
- with `model_latency_s` 0 and nothing queued, the result is emitted inline, before the
  request that caused it is answered (what the fast tests rely on);
- `drop(source)` forgets queued results of an input that was replaced (input_stream.set),
  `clear()` all of them when the session is destroyed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Any

from atai_cli.emulator.background import start_task
from atai_cli.emulator.tuning import EmulatorConfig

READER_BACKLOG = 1  # results a reader may queue ahead of the model


@dataclass(slots=True)
class _Job:
    event_type: str
    event_data: Any
    source: int
    dropped: bool = False


class Inference:
    def __init__(self, session, config: EmulatorConfig) -> None:
        self.session = session
        self.config = config
        self.queue: deque[_Job] = deque()
        self.current: _Job | None = None
        self.worker: asyncio.Task | None = None
        self._room = asyncio.Event()
        self._room.set()

    @property
    def busy(self) -> bool:
        return self.current is not None or bool(self.queue)

    def submit_nowait(self, event_type: str, event_data: Any, source: int = 0) -> None:
        if self.config.model_latency_s <= 0 and not self.busy:
            self.session.emit(event_type, event_data)
            return
        self.queue.append(_Job(event_type, event_data, source))
        if self.worker is None or self.worker.done():
            self.worker = start_task(self.session, self._work(), "model")

    async def submit(self, event_type: str, event_data: Any, source: int = 0) -> None:
        """For readers: wait until the model has room, then queue the result."""
        while len(self.queue) >= READER_BACKLOG:
            self._room.clear()
            await self._room.wait()
        self.submit_nowait(event_type, event_data, source)

    def drop(self, source: int) -> None:
        self.queue = deque(job for job in self.queue if job.source != source)
        if self.current is not None and self.current.source == source:
            self.current.dropped = True
        self._room.set()

    def clear(self) -> None:
        """The session is gone: forget everything queued (its worker is cancelled with it)."""
        self.queue.clear()
        if self.current is not None:
            self.current.dropped = True
        self._room.set()

    async def _work(self) -> None:
        while self.queue:
            job = self.current = self.queue.popleft()
            self._room.set()
            try:
                await asyncio.sleep(max(0.0, self.config.model_latency_s))
            finally:
                self.current = None
            if not job.dropped and not self.session.destroyed:
                self.session.emit(job.event_type, job.event_data)
