"""JSON lines for pipes and scripts: one document per line, so `| jq` sees each one at once."""

from __future__ import annotations

import json
from typing import Any, Callable, TextIO

from atai_cli.errors import StdoutClosed
from atai_cli.protocol.events import OutputEvent

# How an event becomes a line (contract "tail", "several sessions", "one event shape").
SHAPE_DATA = "data"  # the event's data exactly as the server sent it
SHAPE_META = "meta"  # {"id", "event", "channel", "data", "type", "payload", "timestamp"}
SHAPE_FLEET = "fleet"  # the meta form with "session_id" first


def pipe_reader_gone(stream) -> "Callable[[], bool] | None":
    """For a stream that is a pipe: a check of whether its reader has gone (`| head -1` exited).
    A follow with nothing more to print would otherwise learn it only at its next write, which
    may never come. None for a file or a terminal."""
    import os
    import select
    import stat

    try:
        fd = stream.fileno()
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return None
    except (AttributeError, OSError, ValueError):
        return None
    poller = select.poll()
    poller.register(fd, 0)  # no events asked: poll reports POLLERR once the read end is closed

    def gone() -> bool:
        try:
            return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
        except OSError:
            return False

    return gone


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def event_line(event: OutputEvent, shape: str) -> str | None:
    """The printed line of an event (without the newline); None when it cannot be printed
    (data that is not JSON, in the data shape)."""
    if shape == SHAPE_META:
        return dumps(event.meta())
    if shape == SHAPE_FLEET:
        return dumps(event.fleet())
    if not event.ok:
        return None
    raw = event.raw
    if raw is not None and "\n" not in raw and "\r" not in raw:
        return raw  # already one JSON document: no decode/encode round trip
    return dumps(event.data)


class JsonLinesWriter:
    """Writes lines to stdout's byte buffer.

    With batched=False every line is flushed as it is written. With batched=True the caller
    promises to call flush() whenever it is about to wait (the followers' before_wait hook,
    which the SSE follower calls right before a socket read that would block): every line
    still reaches the reader before atai blocks on the network again, so no line ever waits
    for the next event, but a burst of events costs one write per 8 KiB (stdout's buffer)
    instead of one each. The buffer is the only one: a reader that stops reading (a full pipe)
    blocks the write, and with it the session's stream (memory stays bounded).
    """

    def __init__(self, stream: TextIO, *, batched: bool = False) -> None:
        self.batched = batched
        self._buffer = getattr(stream, "buffer", None)
        self._stream = stream
        # The hot path of `tail --json`: one buffered write per line, nothing else.
        self._write_bytes = self._buffer.write if self._buffer is not None and batched else None

    def write_line(self, line: str) -> None:
        try:
            if self._write_bytes is not None:
                self._write_bytes((line + "\n").encode("utf-8"))
            elif self._buffer is not None:
                self._buffer.write(line.encode("utf-8") + b"\n")
                if not self.batched:
                    self._buffer.flush()
            else:
                self._stream.write(line + "\n")
                if not self.batched:
                    self._stream.flush()
        except BrokenPipeError as exc:
            raise StdoutClosed() from exc

    def write_object(self, value: Any) -> None:
        self.write_line(dumps(value))

    def flush(self) -> None:
        try:
            (self._buffer or self._stream).flush()
        except BrokenPipeError as exc:
            raise StdoutClosed() from exc
        except ValueError:
            pass  # stdout already closed at exit
