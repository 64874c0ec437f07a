"""--cursor-file: where each followed session resumes, kept on disk across restarts.

The file is a JSON object (contract v2/v3):
  {SESSION_ID: {"channel": "sse"|"read", "last_event_id": ..., "client_id": ...}}
On both channels last_event_id is the id of the last event every sink took: the server's id
on SSE, the message's 1-based position in the mailbox on the read channel. On the read channel
the entry also keeps "server_offset" (messages the server has handed to client_id in all) and
"clean" (written by a clean stop, after everything handed on was out). A clean stop with
nothing read ahead resumes with the same client_id; anything else (a crash, a batch read but
not all handed on) replays the mailbox under a new client_id and passes over the positions up
to last_event_id, so a SIGKILL between a `session.read` reply and its printing loses nothing.

A cursor only ever moves past events every sink has accepted, and what is saved only past what
is durably out: with stdout batched, the cursors workers advance are `pending` until the next
flush commits them. Saves are atomic (temporary file, then rename) and 0600, at least twice a
second while events flow. One process holds a cursor file at a time (an advisory lock on a
sibling `FILE.lock`, since every save replaces the file itself).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from atai_cli.errors import UsageError

SAVE_INTERVAL = 0.25  # the main loop wakes every 0.25 s at most: a save at least every 0.5 s ("twice a second")


@dataclass
class Cursor:
    channel: str
    last_event_id: str | None = None
    client_id: str | None = None
    server_offset: int | None = 0  # None: a --client-id whose place in the mailbox is not known yet
    clean: bool = False
    # --changes-only: the path and, per event type, the value of the last event kept and handed
    # on, so a restart compares the next event with it (replaced, never changed in place: the
    # committed copy shares it).
    changes_path: str | None = None
    changes: dict[str, Any] | None = None
    # A named reader not located yet has handed over a batch (in memory only): its server cursor
    # is past messages at a place nobody knows, so it must not be reused.
    read_unplaced: bool = False

    def as_dict(self, clean: bool = False) -> dict:
        data: dict[str, Any] = {"channel": self.channel, "last_event_id": self.last_event_id, "client_id": self.client_id}
        if self.channel == "read":
            data.update(server_offset=self.server_offset, clean=clean)
        if self.changes:
            data["changes_only"] = {"path": self.changes_path, "last": self.changes}
        return data

    @property
    def position(self) -> int:
        """Read channel: how many messages of the mailbox are behind this cursor."""
        return mailbox_position(self.last_event_id) or 0

    def resume(self) -> tuple[str | None, str | None, int | None, int]:
        """(since, client_id, offset, skip) for the next follower of this session: the SSE id
        to resume after; or the client_id, how far the server's cursor for it is, and the
        mailbox position already handed on."""
        if self.channel == "sse":
            return self.last_event_id, None, 0, 0
        position = self.position
        from atai_cli.client.mailbox_follower import new_client_id

        if self.client_id and self.server_offset is None:
            if self.clean:  # a named reader that read nothing since: locate it again
                return None, self.client_id, None, 0
            # It may have handed over messages nobody printed, at a place nobody knows: the
            # mailbox from its start under a new reader (repeats, never a loss).
            return None, new_client_id(), 0, 0
        if self.client_id and self.clean and self.server_offset == position:
            return None, self.client_id, self.server_offset, position
        # Read ahead of what was handed on, or not a clean stop: replay under a fresh id and
        # pass over what was handed on.
        return None, new_client_id(), 0, position


def mailbox_position(event_id: str | None) -> int | None:
    """A mailbox event id (a decimal position, 1-based) as a number; None when it is not one."""
    if event_id is None or not event_id.isascii() or not event_id.isdigit():
        return None
    return int(event_id)


def since_position(since: str) -> int:
    """--since on the read channel: a positive mailbox position, else a usage error (exit 2)."""
    position = mailbox_position(since.strip())
    if position is None or position < 1:
        raise UsageError(f"--since {since!r}: on the read channel an event id is a mailbox position, "
                         f"a positive integer (the \"id\" of a --meta line)")
    return position


def id_before(event_id: str | None) -> str | None:
    """The id just before `event_id` when ids are integers (the emulator's and any counting
    server's): resuming after it resumes at that event. None for any other id."""
    number = mailbox_position(event_id)
    return str(number - 1) if number else None


def resume_since(cursor: Cursor | None, first_seen: str | None) -> str | None:
    """The --since that resumes a session without losing an event: the id of the last event
    every sink took; with none, on SSE, the id just before the first one this run received
    when ids are integers (the emulator's and any counting server's)."""
    if cursor is None:
        return None
    if cursor.channel == "read":
        return cursor.last_event_id if cursor.position > 0 else None  # a new reader plays from the start
    if cursor.last_event_id:
        return cursor.last_event_id
    return id_before(first_seen)


def _problem(path: Path, what: str) -> UsageError:
    return UsageError(f"cursor file {path}: {what}",
                      hint="fix it, or point --cursor-file at a new file (this one is left as it is)")


def _entry_model():
    """The pydantic model of one entry, built on first use (pydantic is slow to import)."""
    global _ENTRY
    if _ENTRY is None:
        from typing import Literal

        from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator

        class ChangesOnly(BaseModel):
            path: StrictStr
            last: dict[str, Any]

        class CursorEntry(BaseModel):
            model_config = ConfigDict(extra="ignore")
            channel: Literal["sse", "read"]
            last_event_id: StrictStr | None = None
            client_id: StrictStr | None = None
            server_offset: int | None = Field(0, ge=0, strict=True)
            clean: StrictBool = False
            changes_only: ChangesOnly | None = None

            @field_validator("last_event_id")
            @classmethod
            def _position_on_read(cls, value, info):
                if value is not None and info.data.get("channel") == "read" and mailbox_position(value) is None:
                    raise ValueError("on the read channel it must be a mailbox position (a decimal string)")
                return value

        _ENTRY = CursorEntry
    return _ENTRY


_ENTRY = None


_RULES = {
    "channel": 'channel must be "sse" or "read"',
    "last_event_id": "last_event_id must be a string or null",
    "client_id": "client_id must be a string or null",
    "server_offset": "server_offset must be a non-negative integer or null",
    "clean": "clean must be true or false",
    "changes_only": 'changes_only must be {"path": PATH, "last": {EVENT_TYPE: VALUE}}',
}


def _entry_problem(error: dict, entry: Any) -> str:
    """One pydantic error as the rule the entry broke, with what it held."""
    if not isinstance(entry, dict):
        return f"expected an object, got {type(entry).__name__}"
    field = str((error.get("loc") or ("entry",))[0])
    rule = _RULES.get(field, f"{field}: {error.get('msg')}")
    if field == "last_event_id" and error.get("type") == "value_error":
        rule = "last_event_id on the read channel must be a mailbox position (a decimal string) or null"
    return f"{rule}, got {error.get('input')!r}"


def parse_cursors(path: Path, text: str) -> dict[str, Cursor]:
    if not text.strip():
        return {}  # `touch`, `mktemp`: an empty cursor set
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _problem(path, f"not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise _problem(path, "expected a JSON object {SESSION_ID: {channel, last_event_id, client_id}}")
    from pydantic import ValidationError

    model = _entry_model()
    cursors = {}
    for session_id, entry in data.items():
        try:
            valid = model.model_validate(entry)
        except ValidationError as exc:
            raise _problem(path, f"{session_id}: {_entry_problem(exc.errors()[0], entry)}") from None
        changes = valid.changes_only
        cursors[session_id] = Cursor(valid.channel, valid.last_event_id, valid.client_id,
                                     valid.server_offset, valid.clean,
                                     changes.path if changes else None, changes.last if changes else None)
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


class CursorLock:
    """One holder per cursor file: an flock on FILE.lock, which names the holder's PID. The
    kernel drops it when the holder dies, SIGKILL included, so a stale lock file is harmless."""

    def __init__(self, path: Path) -> None:
        import fcntl

        self._fd: int | None = None
        self.path = path.with_name(path.name + ".lock")
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise UsageError(f"--cursor-file {path}: cannot create the lock {self.path} ({exc.strerror or exc})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"atai process {holder}" if holder else "another atai process"
            raise UsageError(f"cursor file {path} is in use by {who} (lock {self.path})",
                             hint="one process per cursor file: stop that one, or give this one another file") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __del__(self) -> None:
        self.release()


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""


class CursorStore:
    """The cursors of one run: read at start, advanced by the session workers, committed when
    what they stand for is durably out, saved by the main loop at most every SAVE_INTERVAL while
    something changed, and at every exit."""

    def __init__(self, path: Path | None, *, warn: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.auto_commit = True  # off when stdout is batched: its flushes commit
        self._pending: dict[str, Cursor] = {}
        self._committed: dict[str, Cursor] = {}
        self._first_seen: dict[str, str] = {}
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._dirty = False
        self._saved_at = 0.0
        self._warn = warn
        self._save_failed = False
        self._clean = False
        self._holder: CursorLock | None = None
        if path is not None:
            check_writable(path)
            self._holder = CursorLock(path)  # before reading: a second process leaves the file untouched
            try:
                if path.exists():
                    try:
                        text = path.read_text("utf-8")
                    except (OSError, UnicodeDecodeError) as exc:
                        raise _problem(path, f"cannot be read ({exc})") from exc
                    self._committed = parse_cursors(path, text)
            except BaseException:
                self.release()
                raise

    def release(self) -> None:
        """Let another process have the file (at the end of the command)."""
        if self._holder is not None:
            self._holder.release()
            self._holder = None

    def warn(self, session_id: str, text: str) -> None:
        if self._warn is not None:
            self._warn(f"{session_id}: {text}")

    def get(self, session_id: str) -> Cursor | None:
        """Where this session stands: as followed in this run, else as the file had it."""
        with self._lock:
            return self._pending.get(session_id) or self._committed.get(session_id)

    def resume_point(self, session_id: str, channel: str) -> tuple[str | None, str | None, int | None, int] | None:
        """Where this session's next follow starts (Cursor.resume), or None with no cursor on
        this channel. Reusing a clean stop's client_id, the file first stops saying "clean":
        every read moves that id's server cursor, and a SIGKILL after one must not resume on it.
        When the file cannot be written, a new reader replays instead."""
        cursor = self.get(session_id)
        if cursor is None or cursor.channel != channel:
            return None
        point = cursor.resume()
        if channel == "read" and cursor.server_offset is None and point[1] != cursor.client_id:
            self.warn(session_id, f"reader {cursor.client_id} stopped before atai found its place in the mailbox, "
                                  f"so it is not reused: reading the mailbox from its start (some events may repeat)")
        if channel == "read" and cursor.clean and point[1] == cursor.client_id:
            with self._lock:
                cursor.clean = False
                self._dirty = True
            self.save()
            if self._save_failed:
                from atai_cli.client.mailbox_follower import new_client_id

                self.warn(session_id, f"cannot save the cursor file {self.path}, so its client_id is not reused: "
                                      f"replaying the mailbox, passing over what was handed on")
                point = (None, new_client_id(), 0, cursor.position)
        return point

    def first_seen(self, session_id: str) -> str | None:
        return self._first_seen.get(session_id)

    def seen(self, session_id: str, event_id: str | None) -> None:
        """An event arrived (before any sink): the first id of the run is kept for the hint, and
        pinned in the file (see _pin_before)."""
        if event_id is not None and session_id not in self._first_seen:
            self._first_seen[session_id] = event_id
            self._pin_before(session_id, event_id)

    def _pin_before(self, session_id: str, event_id: str) -> None:
        """An SSE follow with nothing to resume after is live-only when started again: the file
        must say where it began before its first event is handed on, or a SIGKILL before the
        first save would lose what came after it. With integer ids (the emulator's and any
        counting server's) that is the id just before the first; other ids are saved with the
        first save, a quarter of a second later."""
        if self.path is None:
            return
        before = id_before(event_id)
        with self._lock:
            cursor = self._pending.get(session_id)
            if cursor is None or cursor.channel != "sse" or cursor.last_event_id is not None or before is None:
                return
            cursor.last_event_id = before
            committed = self._committed.get(session_id)
            if committed is not None and committed.last_event_id is None:
                committed.last_event_id = cursor.last_event_id
            self._dirty = True
        self.save()

    def start(self, session_id: str, channel: str, since: str | None, client_id: str | None,
              offset: int | None = 0, skip: int = 0) -> None:
        """A session's follow begins here (its resume point, before any event)."""
        last = since if channel == "sse" else (str(skip) if skip else None)
        cursor = Cursor(channel, last, client_id, server_offset=offset)
        with self._lock:
            saved = self._committed.get(session_id)
            if saved is not None and saved.channel == channel:  # --changes-only goes on from there
                cursor.changes_path, cursor.changes = saved.changes_path, saved.changes
            self._pending[session_id] = cursor
            self._committed[session_id] = replace(cursor)
            self._dirty = True
        if channel == "read" and offset is None and self.path is not None:
            # A named reader is about to read from a place nobody knows: the file must hold it,
            # not clean, before that read, so a SIGKILL after it replays instead of reusing it.
            self.save()

    def advance(self, session_id: str, event_id: str | None, server_offset: int | None = None,
                client_id: str | None = None, change: tuple[str, str, Any] | None = None) -> None:
        """Every sink has taken one more event of this session (`change`: --changes-only kept
        it, as (path, event type, value))."""
        with self._lock:
            cursor = self._pending.get(session_id)
            if cursor is None:
                return
            cursor.last_event_id = event_id
            if change is not None:
                path, kind, value = change
                kept = cursor.changes if cursor.changes_path == path and cursor.changes else {}
                cursor.changes, cursor.changes_path = {**kept, kind: value}, path
            if cursor.channel == "read":
                if server_offset is not None:
                    cursor.server_offset = server_offset
                if client_id is not None:
                    cursor.client_id = client_id
            if self.auto_commit:
                self._committed[session_id] = replace(cursor)
                self._dirty = True

    def note_read(self, session_id: str, server_offset: int | None, client_id: str | None = None) -> None:
        """The server handed this many messages to the session's client_id in all (None: a
        named reader handed over a batch before atai found its place)."""
        with self._lock:
            for cursors in (self._pending, self._committed):
                cursor = cursors.get(session_id)
                if cursor is None or cursor.channel != "read":
                    continue
                if server_offset is None:
                    cursor.read_unplaced = True
                    self._dirty = True
                    continue
                cursor.read_unplaced = False
                if server_offset != cursor.server_offset or (client_id is not None and client_id != cursor.client_id):
                    cursor.server_offset = server_offset
                    if client_id is not None:
                        cursor.client_id = client_id
                    self._dirty = True

    def commit(self) -> None:
        """Everything advanced so far is durably out (stdout was just flushed)."""
        with self._lock:
            for session_id, cursor in self._pending.items():
                if self._committed.get(session_id) != cursor:
                    self._committed[session_id] = replace(cursor)
                    self._dirty = True

    def forget(self, session_ids) -> None:
        """Sessions the server reports destroyed or unknown leave the file."""
        with self._lock:
            for session_id in session_ids:
                if self._committed.pop(session_id, None) is not None:
                    self._dirty = True
                self._pending.pop(session_id, None)
        if self._dirty:
            self.save(clean=self._clean)

    def save_if_due(self) -> None:
        if self._dirty and time.monotonic() - self._saved_at >= SAVE_INTERVAL:
            self.save()

    def save(self, *, clean: bool = False) -> None:
        """Write the committed cursors; `clean` only at a stop after everything was out."""
        if self.path is None:
            return
        from atai_cli.config_file import write_private

        # One save at a time, written in the order taken (a worker's resume_point and the main
        # loop both save): an older snapshot must never land after a newer one.
        with self._save_lock:
            with self._lock:
                # "clean" speaks for the sessions this run followed; the others keep what the
                # file said of them (this run never read with their client_ids).
                text = json.dumps({sid: c.as_dict((clean and not c.read_unplaced) if sid in self._pending else c.clean)
                                   for sid, c in self._committed.items()}, indent=2) + "\n"
                self._dirty = False
                self._clean = clean
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


def gone_sessions(outcomes) -> list[str]:
    """The followed sessions the server reported destroyed or unknown (pruned from the file)."""
    from atai_cli.errors import NotFoundError

    gone = []
    for outcome in outcomes:
        error = getattr(outcome, "error", None)
        if "destroyed" in (outcome.reason or "") or (isinstance(error, NotFoundError)
                                                     and getattr(error, "resource", None) == "session"):
            gone.append(outcome.session_id)
    return gone
