"""Everything the emulator remembers: lenses, sessions and their outputs, files.

All of it lives on the server's one event loop, so no locks are needed.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import secrets
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from atai_cli.emulator.tuning import EmulatorConfig
from atai_cli.emulator.catalog import builtin_lenses
from atai_cli.protocol import status
from atai_cli.protocol.channels import sse_writer


@dataclass(slots=True)
class StoredEvent:
    id: int
    type: str
    frame: bytes  # the whole SSE record, ready to send


def _event_id(event: StoredEvent) -> int:
    return event.id


class OutputLog:
    """Output events of one session with ids 1, 2, 3...; the last `retention` kept for replay.

    A replayed recording (replay.py) appends frames under the ids it recorded instead: they
    only have to increase, so they may skip numbers.
    """

    def __init__(self, retention: int) -> None:
        self.events: deque[StoredEvent] = deque(maxlen=max(1, retention))
        self.next_id = 1
        self._changed = asyncio.Event()

    def append(self, payload: dict) -> int:
        event_id = self.next_id
        data = json.dumps(payload, separators=(",", ":"))
        frame = f"event: message\nid: {event_id}\ndata: {data}\n\n".encode()
        return self.append_frame(event_id, payload.get("type", ""), frame)

    def append_frame(self, event_id: int, event_type: str, frame: bytes) -> int:
        """A whole SSE record under its own id, which must be above every id before it."""
        if event_id < self.next_id:
            raise ValueError(f"event id {event_id} is not above the last one ({self.last_id})")
        self.next_id = event_id + 1
        self.events.append(StoredEvent(event_id, event_type, frame))
        return event_id

    def notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    @property
    def last_id(self) -> int:
        return self.next_id - 1

    def after(self, cursor: int, limit: int) -> list[StoredEvent]:
        if not self.events or cursor >= self.last_id:
            return []
        first = self.events[0].id
        if self.events[-1].id - first == len(self.events) - 1:  # no gaps: index arithmetic
            start = max(0, cursor + 1 - first)
        else:  # a replay's recorded ids
            start = bisect.bisect_right(self.events, cursor, key=_event_id)
        end = min(len(self.events), start + limit)
        return [self.events[i] for i in range(start, end)]

    def count_after(self, cursor: int) -> int:
        """How many retained events a reader at this cursor has still to get."""
        if not self.events or cursor >= self.last_id:
            return 0
        return len(self.events) - bisect.bisect_right(self.events, cursor, key=_event_id)

    async def wait(self, timeout: float) -> None:
        changed = self._changed
        try:
            await asyncio.wait_for(changed.wait(), timeout)
        except asyncio.TimeoutError:
            pass


def new_session_id() -> str:
    return "lsn-" + datetime.now(timezone.utc).strftime("%y%m%d") + secrets.token_hex(12)


@dataclass
class Session:
    session_id: str
    lens: dict
    lens_config: dict
    retention: int
    status: str = status.REGISTERED
    registration_timestamp: float = field(default_factory=time.time)
    session_start_timestamp: float | None = None
    session_destroyed_timestamp: float | None = None
    last_event_timestamp: float = field(default_factory=time.time)
    last_update_timestamp: float = field(default_factory=time.time)
    num_active_connections: int = 0
    num_updates: int = 0
    num_inputs: int = 0
    num_outputs: int = 0
    num_events: int = 0
    input_data_stream_id: str | None = None
    output_data_stream_id: str | None = None
    errors: list[str] = field(default_factory=list)
    tasks: set = field(default_factory=set)
    readers: dict[str, int] = field(default_factory=dict)  # SSE reader_id -> cursor
    mail: list[dict] = field(default_factory=list)
    read_cursors: dict[str, int] = field(default_factory=dict)
    outputs: OutputLog = None  # type: ignore[assignment]
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    input_done: bool = False  # a finite emulator-only input asked for the stream to end
    ever_read: bool = False  # an SSE reader has connected at least once (see sse_stream.start_cursor)
    # The runner's moving parts (runner.py): the one input reader, the model that turns
    # inputs into outputs with latency (inference.py), and per-processor state.
    model: Any = None  # inference.Inference
    input_task: asyncio.Task | None = None
    input_generation: int = 0  # bumped by each input_stream.set: outputs of older inputs are dropped
    input_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    input_errors: list[str] = field(default_factory=list)  # problems of inputs started by the runner
    log_buffer: Any = None  # processors.sensor_logs.LogBuffer, for sensor-logs lenses
    n_shot: Any = None  # processors.n_shot.NShot, once session.modify gave input_n_shot
    player: Any = None  # replay.Player, on a session of a replayed recording's lens

    def __post_init__(self) -> None:
        self.outputs = OutputLog(self.retention)

    @property
    def destroyed(self) -> bool:
        return self.status in (status.DESTROYED, status.STALE)

    @property
    def uses_sse(self) -> bool:
        return sse_writer(self.lens_config) is not None

    def touch(self) -> None:
        self.last_update_timestamp = time.time()

    def emit(self, event_type: str, event_data: Any) -> None:
        """A lens output: to the SSE consumer when the session has a writer, else the mailbox."""
        self.num_outputs += 1
        self.num_updates += 1
        self.touch()
        if self.uses_sse:
            self.outputs.append({"type": event_type, "event_data": event_data})
            self.outputs.notify()
        else:
            self.mail.append({"timestamp": time.time(), "type": event_type, "data": event_data})

    def read_mail(self, client_id: str, batch: int) -> list[dict]:
        # A new client_id replays from the start ("use a new client_id to reset playback").
        start = self.read_cursors.get(client_id, 0)
        messages = self.mail[start:start + batch]
        self.read_cursors[client_id] = start + len(messages)
        return messages

    def reader_lag(self) -> int:
        if not self.readers:
            return 0
        return self.outputs.last_id - min(self.readers.values())

    def record(self, api_key: str, endpoint: str) -> dict:
        return {
            "org_id": "EMULATOR",
            "api_key": api_key,  # the real API echoes the caller's key (lens-api.md 1.4)
            "session_id": self.session_id,
            "lens_id": self.lens["lens_id"],
            "lens_name": self.lens["lens_name"],
            "input_data_stream_id": self.input_data_stream_id,
            "output_data_stream_id": self.output_data_stream_id,
            "registration_timestamp": self.registration_timestamp,
            "last_event_timestamp": self.last_event_timestamp,
            "last_update_timestamp": self.last_update_timestamp,
            "session_start_timestamp": self.session_start_timestamp,
            "session_destroyed_timestamp": self.session_destroyed_timestamp,
            "num_active_connections": self.num_active_connections,
            "num_updates": self.num_updates,
            "num_inputs": self.num_inputs,
            "num_outputs": self.num_outputs,
            "num_events": self.num_events,
            "lens_config": self.lens_config,
            "session_status": status.ENUM_PREFIX + self.status,
            "session_runner": "lens_service:runner:atai-emulator",
            "session_endpoint": endpoint,
            "node_tag": "default",
            "session_ttl_sec": 86400,
            **({"errors": self.errors} if self.errors else {}),
        }

    def summary(self, endpoint: str) -> dict:
        """The shorter shape of GET /lens/sessions/metadata (bare status), plus counters."""
        end = self.session_destroyed_timestamp or time.time()
        return {
            "session_id": self.session_id,
            "lens_id": self.lens["lens_id"],
            "last_update_timestamp": self.last_update_timestamp,
            "session_status": self.status,
            "session_endpoint": endpoint,
            "session_duration_sec": round(end - self.registration_timestamp, 3),
            "num_inputs": self.num_inputs,
            "num_outputs": self.num_outputs,
            "num_events": self.num_events,
            "num_active_connections": self.num_active_connections,
        }


class FileStore:
    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="atai-emulator-files-")
        self.root = Path(self._dir.name)
        self.records: dict[str, dict] = {}  # oldest first: an overwrite moves a file to the end
        self._next_index = 0
        self.last_updated = time.time()  # of the last upload or delete

    def put(self, name: str, content: bytes, content_type: str) -> dict:
        file_id = Path(name).name or "upload.bin"
        (self.root / file_id).write_bytes(content)  # same name overwrites, as documented
        record = {
            "file_id": file_id,
            "file_uid": datetime.now(timezone.utc).strftime("%y%m%d") + secrets.token_hex(8),
            "is_valid": True,
            "file_type": content_type,
            "num_bytes": len(content),
            "file_status": "FILE_STATUS_INGESTED",
            "file_attributes": {},
            "ingested": True,
            "file_index": self._next_index,
            "file_tags": [],
            "created_timestamp": time.time(),
        }
        self._next_index += 1
        self.last_updated = time.time()
        self.records.pop(file_id, None)
        self.records[file_id] = record
        return record

    def newest_first(self) -> list[dict]:
        return list(reversed(self.records.values()))

    def path(self, file_id: Any) -> Path | None:
        return self.root / file_id if isinstance(file_id, str) and file_id in self.records else None

    def delete(self, file_id: str) -> dict | None:
        record = self.records.pop(file_id, None)
        if record is not None:
            (self.root / file_id).unlink(missing_ok=True)
            self.last_updated = time.time()
        return record

    def cleanup(self) -> None:
        self._dir.cleanup()


class EmulatorState:
    def __init__(self, api_key: str, config: EmulatorConfig) -> None:
        self.api_key = api_key
        self.config = config
        self.initial_config = config.copy()
        self.lenses: dict[str, dict] = builtin_lenses()
        self.replays: dict[str, Any] = {}  # lens id -> replay.Replay (atai emulator --replay)
        self.sessions: dict[str, Session] = {}
        self.files = FileStore()
        self.sse_connections = 0

    def reset(self) -> None:
        self.config.restore(self.initial_config)
        self.sse_connections = 0
