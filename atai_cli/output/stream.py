"""Rendering a followed stream: JSON lines for pipes and scripts."""

from __future__ import annotations

import json
from typing import Any, TextIO

from atai_cli.client.stream import OutputEvent


class JsonLinesWriter:
    """One JSON document per line (so `| jq` sees each one at once).

    Without --meta a line is the event's data exactly as the server sent it: when the SSE
    data is already one line of JSON it is written as-is, with no decode/encode round trip.

    With batched=False every line is flushed as it is written. With batched=True the caller
    promises to call flush() whenever it is about to wait (the followers' before_wait hook):
    every line still reaches the reader before atai blocks on the network again, so no line
    ever waits for the next event, but a burst of events costs one write instead of one each.
    """

    def __init__(self, stream: TextIO, *, meta: bool = False, batched: bool = False) -> None:
        self.meta = meta
        self.batched = batched
        self._buffer = getattr(stream, "buffer", None)
        self._stream = stream

    def _write(self, line: str) -> None:
        if self._buffer is not None:
            self._buffer.write(line.encode("utf-8") + b"\n")
            if not self.batched:
                self._buffer.flush()
        else:
            self._stream.write(line + "\n")
            if not self.batched:
                self._stream.flush()

    def flush(self) -> None:
        (self._buffer or self._stream).flush()

    def write_object(self, value: Any) -> None:
        self._write(json.dumps(value, separators=(",", ":"), ensure_ascii=False))

    def write_event(self, event: OutputEvent) -> bool:
        """False when the event was skipped (its data is not JSON and --meta is off)."""
        if self.meta:
            self.write_object({"id": event.id, "event": event.event, "channel": event.channel, "data": event.data})
            return True
        if not event.ok:
            return False
        raw = event.raw
        if raw is not None and "\n" not in raw and "\r" not in raw:
            self._write(raw)
        else:
            self.write_object(event.data)
        return True
