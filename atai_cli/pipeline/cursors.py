"""--cursor-file: where each followed session resumes, kept on disk across restarts.

The file is a JSON object (contract v2):
  {SESSION_ID: {"channel": "sse"|"read", "last_event_id": ..., "client_id": ...}}
plus, on the read channel, "read_offset" (messages of that client_id's playback handed on),
"server_offset" (messages the server has handed to it) and "clean" (the file was written by a
clean stop, after everything handed on was out). A clean stop with nothing read ahead resumes
with the same client_id; anything else (a crash, a batch read but not all handed on) replays
the mailbox under a new client_id and skips exactly read_offset messages, so a SIGKILL between
a `session.read` reply and its printing loses nothing.

A cursor only ever moves past events every sink has accepted, and what is saved only past what
is durably out: with stdout batched, the cursors workers advance are `pending` until the next
flush commits them. Saves are atomic (temporary file, then rename) and 0600.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from atai_cli.errors import UsageError

SAVE_INTERVAL = 0.5  # seconds between saves while events flow ("at least once a second")


@dataclass
class Cursor:
    channel: str
    last_event_id: str | None = None
    client_id: str | None = None
    read_offset: int = 0
    server_offset: int = 0
    clean: bool = False

    def as_dict(self, clean: bool = False) -> dict:
        data: dict[str, Any] = {"channel": self.channel, "last_event_id": self.last_event_id, "client_id": self.client_id}
        if self.channel == "read":
            data.update(read_offset=self.read_offset, server_offset=self.server_offset, clean=clean)
        return data

    def resume(self) -> tuple[str | None, str | None, int, int]:
        """(since, client_id, offset, skip) for the next follower of this session: the SSE id
        to resume after; or the client_id, how far the server's cursor for it is, and up to
        where its playback was already handed on."""
        if self.channel == "sse":
            return self.last_event_id, None, 0, 0
        if self.client_id and self.clean and self.server_offset <= self.read_offset:
            return None, self.client_id, self.server_offset, self.read_offset
        # Read ahead of what was handed on, or not a clean stop: replay under a fresh id and
        # skip what was consumed.
        return None, "atai-" + secrets.token_hex(6), 0, self.read_offset


def _problem(path: Path, what: str) -> UsageError:
    return UsageError(f"cursor file {path}: {what}",
                      hint="fix it, or point --cursor-file at a new file (this one is left as it is)")


def parse_cursors(path: Path, text: str) -> dict[str, Cursor]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _problem(path, f"not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise _problem(path, "expected a JSON object {SESSION_ID: {channel, last_event_id, client_id}}")
    cursors = {}
    for session_id, entry in data.items():
        if not isinstance(entry, dict):
            raise _problem(path, f"{session_id}: expected an object, got {type(entry).__name__}")
        channel = entry.get("channel")
        if channel not in ("sse", "read"):
            raise _problem(path, f"{session_id}: channel must be \"sse\" or \"read\", got {channel!r}")
        for key in ("last_event_id", "client_id"):
            if entry.get(key) is not None and not isinstance(entry[key], str):
                raise _problem(path, f"{session_id}: {key} must be a string or null, got {entry[key]!r}")
        offsets = []
        for key in ("read_offset", "server_offset"):
            value = entry.get(key, 0)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise _problem(path, f"{session_id}: {key} must be a non-negative integer, got {value!r}")
            offsets.append(value)
        clean = entry.get("clean", False)
        if not isinstance(clean, bool):
            raise _problem(path, f"{session_id}: clean must be true or false, got {clean!r}")
        cursors[session_id] = Cursor(channel, entry.get("last_event_id"), entry.get("client_id"), *offsets, clean=clean)
    return cursors


def check_writable(path: Path) -> None:
    """A cursor file atai can write, checked before anything starts (exit 2 otherwise)."""
    if path.exists():
        if not path.is_file():
            raise UsageError(f"--cursor-file {path} is not a file")
        if not os.access(path, os.W_OK):
            raise UsageError(f"--cursor-file {path} is not writable")
        return
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"--cursor-file {path}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"--cursor-file {path}: the directory {parent} is not writable")


class CursorStore:
    """The cursors of one run: read at start, advanced by the session workers, committed when
    what they stand for is durably out, saved by the main loop at most every SAVE_INTERVAL while
    something changed, and at every exit."""

    def __init__(self, path: Path | None, *, warn: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.auto_commit = True  # off when stdout is batched: its flushes commit
        self._pending: dict[str, Cursor] = {}
        self._committed: dict[str, Cursor] = {}
        self._lock = threading.Lock()
        self._dirty = False
        self._saved_at = 0.0
        self._warn = warn
        self._save_failed = False
        if path is not None:
            if path.exists():
                try:
                    text = path.read_text("utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    raise _problem(path, f"cannot be read ({exc})") from exc
                self._committed = parse_cursors(path, text)
            check_writable(path)

    def get(self, session_id: str) -> Cursor | None:
        """Where this session stands: as followed in this run, else as the file had it."""
        with self._lock:
            return self._pending.get(session_id) or self._committed.get(session_id)

    def start(self, session_id: str, channel: str, since: str | None, client_id: str | None,
              offset: int = 0, skip: int = 0) -> None:
        """A session's follow begins here (its resume point, before any event)."""
        cursor = Cursor(channel, since, client_id, read_offset=skip, server_offset=offset)
        with self._lock:
            self._pending[session_id] = cursor
            self._committed[session_id] = replace(cursor)
            self._dirty = True

    def advance(self, session_id: str, event_id: str | None, server_offset: int | None = None) -> None:
        """Every sink has taken one more event of this session."""
        with self._lock:
            cursor = self._pending.get(session_id)
            if cursor is None:
                return
            if cursor.channel == "sse":
                cursor.last_event_id = event_id
            else:
                cursor.read_offset += 1
                if server_offset is not None:
                    cursor.server_offset = max(cursor.server_offset, server_offset)
            if self.auto_commit:
                self._committed[session_id] = replace(cursor)
                self._dirty = True

    def note_read(self, session_id: str, server_offset: int) -> None:
        """The server handed this many messages to the session's client_id in all."""
        with self._lock:
            for cursors in (self._pending, self._committed):
                cursor = cursors.get(session_id)
                if cursor is not None and cursor.channel == "read" and server_offset > cursor.server_offset:
                    cursor.server_offset = server_offset
                    self._dirty = True

    def commit(self) -> None:
        """Everything advanced so far is durably out (stdout was just flushed)."""
        with self._lock:
            for session_id, cursor in self._pending.items():
                if self._committed.get(session_id) != cursor:
                    self._committed[session_id] = replace(cursor)
                    self._dirty = True

    def save_if_due(self) -> None:
        if self._dirty and time.monotonic() - self._saved_at >= SAVE_INTERVAL:
            self.save()

    def save(self, *, clean: bool = False) -> None:
        """Write the committed cursors; `clean` only at a stop after everything was out."""
        if self.path is None:
            return
        from atai_cli.config_file import write_private

        with self._lock:
            text = json.dumps({sid: c.as_dict(clean) for sid, c in self._committed.items()}, indent=2) + "\n"
            self._dirty = False
        try:
            write_private(self.path, text, create_dirs=False)
        except OSError as exc:  # a full disk must not stop the sessions: say it, keep trying
            self._dirty = True
            if not self._save_failed and self._warn:
                self._warn(f"cannot save the cursor file {self.path}: {exc.strerror or exc}; still trying")
            self._save_failed = True
            return
        self._save_failed = False
        self._saved_at = time.monotonic()
