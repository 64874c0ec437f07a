"""--record FILE: every received lens output event, before filtering, flushed as it is written
(protocol/recording_format.py has the format). It sees events before the filters and sinks do.

The header names every session the command was given: lines wait (in memory, for the moment it
takes each session to answer its first status) until all of them are known, then go out as they
arrive. Sessions discovered later are named by their event lines. `t` counts from the header's
`created_at`, on a monotonic clock; appended lines continue it.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from atai_cli.errors import UsageError
from atai_cli.protocol import recording_format
from atai_cli.protocol.events import OutputEvent
from atai_cli.protocol.redact import redact_text


class Recorder:
    def __init__(self, path: Path, *, append: bool, secrets: list[str]) -> None:
        self.path = path
        self.secrets = [s for s in secrets if s and len(s) >= 4]
        self.lock = threading.Lock()
        self.written = 0
        self._sessions: dict[str, dict] = {}
        self._waiting_for: set[str] = set()
        self._held: list[str] = []
        self._existing: dict | None = None
        self._created = datetime.now(timezone.utc)
        self._started = time.monotonic()
        self._base = 0.0  # seconds of the recording before this run
        if path.is_dir():
            raise UsageError(f"--record {path} is a directory")
        if path.exists() and path.stat().st_size > 0:
            if not append:
                raise UsageError(f"{path} already exists: refusing to append to a recording",
                                 hint="choose a new file, or pass --record-append to add to it")
            self._existing = recording_format.read_header(path)  # exit 2 when it is not a recording
            self._base = self._resume_offset(self._existing)
        try:
            self._handle: IO[str] | None = open(path, "a" if self._existing is not None else "w", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write the recording {path}: {exc.strerror or exc}") from exc
        self._header_written = self._existing is not None

    @property
    def recorded_sessions(self) -> dict[str, dict]:
        """The sessions an existing recording (appended to) names."""
        return dict((self._existing or {}).get("sessions") or {})

    def expect(self, session_ids: list[str]) -> None:
        """The sessions named on the command line: the header waits for all of them; when
        appending, they must be the recorded ones."""
        self._waiting_for = set(session_ids)
        if self._existing is None:
            return
        recorded = set(self.recorded_sessions)
        missing = [sid for sid in session_ids if sid not in recorded]
        if missing:
            raise UsageError(f"{self.path} is a recording of {', '.join(sorted(recorded)) or 'no session'}, "
                             f"not of {', '.join(missing)}",
                             hint="append only to a recording of the same sessions, or record to a new file")

    def check(self, session_id: str, lens_id: str | None, channel: str) -> None:
        """When appending, a session must be on the lens and channel it was recorded on."""
        recorded = self.recorded_sessions.get(session_id)
        if recorded and (recorded.get("channel") != channel or recorded.get("lens_id") != lens_id):
            raise UsageError(f"{self.path}: session {session_id} was recorded on {recorded.get('lens_id')} "
                             f"({recorded.get('channel')}), not {lens_id} ({channel})")

    def add_session(self, session_id: str, lens_id: str | None, channel: str) -> None:
        """A session's follow starts."""
        self.check(session_id, lens_id, channel)
        with self.lock:
            self._sessions.setdefault(session_id, {"lens_id": lens_id, "channel": channel})
            self._settle(session_id)

    def settled(self, session_id: str) -> None:
        """A session the header was waiting for will not be followed after all (it failed)."""
        with self.lock:
            self._settle(session_id)

    def _settle(self, session_id: str) -> None:
        self._waiting_for.discard(session_id)
        if not self._waiting_for and self._held:
            self._ensure_header()
            held, self._held = self._held, []
            for line in held:
                self._write(line)

    def _resume_offset(self, existing: dict) -> float:
        """Where appended lines continue: after the last recorded `t`, and no earlier than
        the real time since the recording was created."""
        created = recording_format.parse_created_at(existing["created_at"])
        self._created = created
        since_created = max(0.0, (datetime.now(timezone.utc) - created).total_seconds())
        return max(since_created, recording_format.last_t(self.path))

    def _write(self, text: str) -> None:
        assert self._handle is not None
        for secret in self.secrets:
            text = redact_text(text, secret)
        self._handle.write(text + "\n")
        self._handle.flush()

    def _ensure_header(self) -> None:
        if not self._header_written:
            self._header_written = True
            self._write(json.dumps(recording_format.header(self._sessions, self._created)))

    def write(self, event: OutputEvent) -> None:
        if event.envelope:
            return
        with self.lock:
            if self._handle is None:
                return
            t = self._base + time.monotonic() - self._started
            line = json.dumps(recording_format.event_line(t, event), separators=(",", ":"), ensure_ascii=False, default=str)
            self.written += 1
            if self._waiting_for:
                self._held.append(line)
                return
            self._ensure_header()
            self._write(line)

    def close(self) -> None:
        with self.lock:
            if self._handle is not None:
                self._ensure_header()
                for line in self._held:
                    self._write(line)
                self._held = []
                self._handle.close()
                self._handle = None
