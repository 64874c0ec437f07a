"""A WHATWG-conforming event-stream decoder: bytes in, events out, no I/O.

httpx-sse 0.4.3 departs from the spec in ways that matter to a resuming client (no BOM
stripping, a CR at the end of a read held back, events for blocks without data, `retry`
parsed with int(), the response charset honoured, comments invisible). This decoder follows
https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
exactly; tests/test_events.py checks every rule with byte streams split at every boundary.
"""

from __future__ import annotations

import codecs
import re

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# A server that never ends a line (or an event) must not grow memory without bound.
MAX_LINE = 16 * 1024 * 1024
MAX_DATA_LINES = 100_000


class StreamTooLarge(ValueError):
    """A line or an event beyond the limits above."""


class ServerSentEvent:
    """One dispatched event. A plain slotted class: created once per event on the hot path."""

    __slots__ = ("data", "event", "last_event_id", "has_id")

    def __init__(self, data: str, event: str = "message", last_event_id: str = "", has_id: bool = False) -> None:
        self.data = data
        self.event = event
        # The source's last event ID string at dispatch: set by `id:`, kept across later events.
        self.last_event_id = last_event_id
        # Whether this block carried an `id:` field of its own (used for duplicate suppression).
        self.has_id = has_id

    def __repr__(self) -> str:
        return f"ServerSentEvent({self.data!r}, {self.event!r}, {self.last_event_id!r}, {self.has_id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ServerSentEvent) and (self.data, self.event, self.last_event_id, self.has_id) == (
            other.data, other.event, other.last_event_id, other.has_id)


class EventStreamDecoder:
    """Feed it raw bytes as they arrive; it returns the events completed by each chunk."""

    __slots__ = (
        "_decoder", "_started", "_skip_lf", "_pending", "_data", "_event", "_id_in_block",
        "_id_buffer", "last_event_id", "retry", "comments", "_carry",
    )

    def __init__(self, last_event_id: str = "") -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._started = False  # BOM check done
        self._skip_lf = False  # previous chunk ended in CR: a leading LF is its other half
        self._pending = ""  # an unterminated line
        self._data: list[str] = []
        self._event = ""
        self._id_in_block = False
        # The spec's "last event ID buffer" (moved by `id:`) and the source's "last event ID
        # string" (copied from the buffer at each blank line): only the latter is a resume point.
        self._id_buffer = last_event_id
        self.last_event_id = last_event_id
        self.retry: int | None = None  # reconnection time in ms, when the stream set one
        self.comments = 0
        self._carry = False  # the incremental UTF-8 decoder holds the start of a character

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        text = None
        if not self._carry:
            try:
                text = chunk.decode("utf-8")  # whole, valid: the incremental decoder has nothing to add
            except UnicodeDecodeError:
                pass
        if text is None:
            text = self._decoder.decode(chunk)
            self._carry = bool(self._decoder.getstate()[0])
        if (self._started and not self._skip_lf and not self._pending and not self._data and not self._event
                and not self._id_in_block and text[-2:] == "\n\n" and "\r" not in text):
            events = self._whole_blocks(text)
            if events is not None:
                return events
        if not self._started:
            if not text:
                return []
            self._started = True
            if text[0] == "\ufeff":
                text = text[1:]
        if self._skip_lf and text:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
        if not text:
            return []
        if "\r" in text:
            if text[-1] == "\r":
                # A CR ends its line now; if the next read starts with LF, that LF is skipped.
                self._skip_lf = True
            lines = _LINE_BREAK.split(text)
        else:
            lines = text.split("\n")
        if self._pending:
            lines[0] = self._pending + lines[0]
        self._pending = lines.pop()
        if len(self._pending) > MAX_LINE:
            raise StreamTooLarge(f"a line longer than {MAX_LINE // (1024 * 1024)} MiB with no end")
        return self._process(lines) if lines else []

    def _whole_blocks(self, text: str) -> list[ServerSentEvent] | None:
        """The common case, a read of whole events: `\\n` line ends only, each block of `id`,
        `event` and `data` fields (`name: value`), nothing carried over from an earlier read.
        None for anything else (nothing changed: the caller takes the exact line-by-line path).
        Rules kept: an id with NUL is ignored (bail), a block without data dispatches nothing (bail)."""
        blocks = text.split("\n\n")
        if blocks.pop():  # "...\n\n\n": an extra blank line (a block that starts with LF below too)
            return None
        events: list[ServerSentEvent] = []
        append_event = events.append
        id_buffer = self._id_buffer
        for block in blocks:
            if not block or block[0] == "\n":
                return None
            own_id = False
            event_type = "message"
            if block[0] == "i" and block.startswith("id: "):
                end = block.find("\n")
                if end < 0:
                    return None
                value = block[4:end]
                if "\0" in value:
                    return None
                id_buffer = value
                own_id = True
                block = block[end + 1:]
            if block[0] == "e" and block.startswith("event: "):
                end = block.find("\n")
                if end < 0:
                    return None
                event_type = block[7:end] or "message"
                block = block[end + 1:]
                if not own_id and block.startswith("id: "):
                    end = block.find("\n")
                    if end < 0 or "\0" in block[4:end]:
                        return None
                    id_buffer = block[4:end]
                    own_id = True
                    block = block[end + 1:]
            if not block.startswith("data: ") or "\n" in block:
                return None  # several data lines, other fields, comments: the exact path
            append_event(ServerSentEvent(block[6:], event_type, id_buffer, own_id))
        self._id_buffer = self.last_event_id = id_buffer
        return events

    def _process(self, lines: list[str]) -> list[ServerSentEvent]:
        # The hot path of every stream: buffers live in locals and are written back once.
        events: list[ServerSentEvent] = []
        append_event = events.append
        data = self._data
        event_type = self._event
        id_buffer = self._id_buffer
        last_id = self.last_event_id
        own_id = self._id_in_block
        for line in lines:
            if not line:
                last_id = id_buffer
                if data:
                    append_event(ServerSentEvent("\n".join(data), event_type or "message", last_id, own_id))
                    data = []
                event_type = ""
                own_id = False
                continue
            first = line[0]
            if first == "d" and line.startswith("data:"):
                data.append(line[6:] if line[5:6] == " " else line[5:])
                continue
            if first == ":":
                self.comments += 1
                continue
            name, sep, value = line.partition(":")
            if sep and value[:1] == " ":
                value = value[1:]
            if name == "data":  # "data" with no colon: an empty data line
                data.append(value)
            elif name == "event":
                event_type = value
            elif name == "id":
                if "\0" not in value:
                    id_buffer = value
                    own_id = True
            elif name == "retry":
                if value and value.isascii() and value.isdigit():
                    self.retry = int(value)
        if len(data) > MAX_DATA_LINES:
            raise StreamTooLarge(f"an event of more than {MAX_DATA_LINES} data lines with no end")
        self._data = data
        self._event = event_type
        self._id_buffer = id_buffer
        self.last_event_id = last_id
        self._id_in_block = own_id
        return events

    def close(self) -> None:
        """End of stream: a block not terminated by a blank line is discarded, its id too."""
        self._id_buffer = self.last_event_id
        self._pending = ""
        self._data = []
        self._event = ""
        self._id_in_block = False
