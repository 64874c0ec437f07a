"""The emulator's own stream type, for benchmarks (synthetic_reader)."""

from __future__ import annotations

import asyncio
import time


async def run_synthetic(session, count: int, payload_bytes: int, rate_hz: float = 0.0, end: bool = False) -> None:
    """With rate_hz 0 it is the fastest stream the emulator has: `count` results with no
    pacing and no model latency, held back only while a connected reader falls a retention's
    length behind. With rate_hz > 0 it paces results and stamps each with `emitted_at` (for
    latency measurements). With `end`, the stream ends when all are sent."""
    filler = "x" * max(0, payload_bytes)
    if rate_hz > 0:
        for n in range(count):
            await asyncio.sleep(1.0 / rate_hz)
            session.emit("inference.result", {"response": [filler], "seq": n, "emitted_at": time.time()})
    else:
        batch = 256
        n = 0
        while n < count:
            retention = session.outputs.events.maxlen or 1000
            while session.readers and session.reader_lag() > retention - batch:
                session.progress.clear()
                try:
                    await asyncio.wait_for(session.progress.wait(), 1.0)
                except asyncio.TimeoutError:
                    pass
            for _ in range(min(batch, count - n)):
                session.num_outputs += 1
                session.outputs.append({
                    "type": "inference.result",
                    "event_data": {"response": [filler], "seq": n, "query_id": f"qry-{n}"},
                })
                n += 1
            session.touch()
            session.outputs.notify()
            await asyncio.sleep(0)
    if end:
        session.input_done = True
        session.outputs.notify()
