"""GET /lens/sessions/consumer/{session_id}: the SSE consumer, with ids, replay and heartbeats."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import AsyncIterator

from atai_cli.emulator.memory import EmulatorState, Session
from atai_cli.protocol import status

BATCH = 512


def envelope(payload: dict, retry_ms: int = -1) -> bytes:
    retry = f"retry: {retry_ms}\n" if retry_ms >= 0 else ""
    return f"event: message\n{retry}data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


def start_cursor(session: Session, last_event_id: str | None, live_only: bool = False) -> int:
    """Where a new reader starts. With Last-Event-ID: after that id (replaying what is
    retained). Without it: live, as observed on the real API, except for the session's first
    reader, which also gets what the session produced before anyone listened. That is what
    makes the SDK's own examples work here: they push data or let a declared input start, and
    open the consumer only afterwards (on the real platform, the model's latency covers it).
    `live_only` makes every reader live-only. A replay matches the id against the recorded
    ones as strings; one it never had replays from the start (repeats, never a loss)."""
    if last_event_id and session.player is not None and session.player.channel == "sse":
        return session.player.replay.number_of(last_event_id) or 0
    if last_event_id:
        try:
            return max(0, int(last_event_id.strip()))
        except ValueError:
            pass
    if not session.ever_read and not live_only:
        return 0
    return session.outputs.last_id


async def stream(state: EmulatorState, session: Session, cursor: int) -> AsyncIterator[bytes]:
    config = state.config
    reader_id = secrets.token_hex(8)
    connection = state.sse_connections
    state.sse_connections += 1
    session.readers[reader_id] = cursor
    session.num_active_connections += 1
    silent = config.silence_after > 0 and (config.silence_connections == 0 or connection < config.silence_connections)
    sent = 0
    num_bytes = 0
    last_output = time.monotonic()
    last_frame = last_output
    try:
        yield envelope(
            {"type": "sse.stream.start", "event_data": {"session_id": session.session_id, "reader_id": reader_id}},
            config.sse_retry_ms,
        )
        if config.sse_garbage:
            yield b"event: message\ndata: <html>this is not JSON</html>\n\n"
        while True:
            limit = BATCH
            if config.drop_every:
                limit = min(limit, config.drop_every - sent % config.drop_every)
            if silent:
                limit = min(limit, config.silence_after - sent)
            batch = session.outputs.after(cursor, limit) if limit > 0 else []
            if batch:
                chunk = b"".join(e.frame for e in batch)
                yield chunk
                cursor = batch[-1].id
                sent += len(batch)
                num_bytes += len(chunk)
                session.readers[reader_id] = cursor
                session.progress.set()
                last_output = last_frame = time.monotonic()
                if config.drop_every and sent % config.drop_every == 0:
                    if config.drop_partial:
                        yield b'event: message\ndata: {"type":"inference.resu'
                    return  # close without sse.stream.end: the client must resume
                continue
            if silent and sent >= config.silence_after:
                await asyncio.sleep(3600)  # say nothing, not even heartbeats, until the client gives up
                return
            now = time.monotonic()
            if session.destroyed or session.input_done:
                yield envelope({"type": "sse.stream.end"})
                return
            if config.idle_timeout_s > 0 and now - last_output >= config.idle_timeout_s:
                yield envelope({"type": "sse.stream.end"})
                return
            wait = config.heartbeat_s - (now - last_frame)
            if config.idle_timeout_s > 0:
                wait = min(wait, config.idle_timeout_s - (now - last_output))
            if wait <= 0 and config.comment_keepalive:
                yield b": ping\n\n"
                last_frame = now
                continue
            if wait <= 0:
                yield envelope({"type": "sse.stream.heartbeat", "event_data": {
                    "session_id": session.session_id,
                    "session_status": session.status if session.status != status.REGISTERED else status.RUNNING,
                    "num_messages": sent,
                    "num_bytes": num_bytes,
                    "message_timeout": round(now - last_output, 1),
                }})
                last_frame = now
                continue
            await session.outputs.wait(wait)
    finally:
        session.readers.pop(reader_id, None)
        session.num_active_connections -= 1
        session.progress.set()
