"""`atai emulator --replay FILE`: recordings (`atai tail --record`) served back as live sessions.

Each recording becomes one built-in lens, `lns-replay-<name>` (recording.replay_lens_id). Every
session created on it replays the recording's events, in time order, on the recorded channel:

- SSE: frames with the recorded event name, id and data (re-encoded as compact JSON, as the
  emulator sends it; data that was not JSON goes out as the text it was). Every id goes out as
  it was recorded, whatever its form (`17`, `s-1`, `2026-06-08T00:00:01`, a UUID); an event
  recorded without one goes out without an `id:` line (so a reader keeps the id before it, as
  the SSE rules say). Inside the emulator the events are numbered 1..N in time order, and a
  Last-Event-ID is matched by string against the recorded ids (the first event that had it),
  so a `--since` or cursor file taken on the recorded session resumes inside the replay.
  After the last event the stream ends with sse.stream.end (like a finite input).
- mailbox: the recorded message objects ({timestamp, type, data}) appended to session.read's
  mailbox, as recorded.
- A recording that mixes both channels replays on SSE; its mailbox messages become SSE
  payloads {"type", "event_data"}.

The replay starts when the session is RUNNING and its first SSE consumer connects (SSE) or it
is first read (mailbox): the first event at once, every later one after the recorded gap since
the one before, divided by `replay_speed` (read before each gap; 0 = no gaps). A consumer that
starts after a recorded id gets the events up to it without their gaps (it has seen them).
Everything else is the emulator's as for any session: retention and Last-Event-ID, heartbeats
and the idle timeout while a gap lasts, and every fault (dropped connections, silences,
injected statuses), since the replayed events go through the same output log and routes.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from atai_cli.emulator.background import start_task
from atai_cli.errors import UsageError
from atai_cli.protocol import status
from atai_cli.protocol.recording_format import Recording, RecordedEvent, read_recording, replay_lens_id
from atai_cli.protocol.streams import SSE_WRITER

NOOP_PROCESSOR = "lens_noop_processor"
BURST = 256  # most events emitted before yielding to the event loop (speed 0)
MAX_SLEEP = 0.25  # a long gap is slept in steps, so a change of replay_speed applies soon


@dataclass(slots=True)
class Cue:
    """One replayed event: when (seconds after the first), and what goes out."""

    offset: float
    id: int | None  # SSE: the event's number in the replay (1..N, the output log's); None on the mailbox
    type: str
    frame: bytes = b""  # SSE: the whole record
    message: object = None  # mailbox: the message object


@dataclass
class Replay:
    """A recording, ready to be replayed by any number of sessions."""

    path: Path
    lens_id: str
    channel: str  # "sse" | "read"
    cues: list[Cue]
    sessions: list[str]
    duration: float
    lens: dict = field(default_factory=dict)
    numbers: dict[str, int] = field(default_factory=dict)  # recorded SSE id -> first cue with it

    @classmethod
    def of(cls, recording: Recording) -> "Replay":
        channel = recording.channel
        events = recording.events
        start = events[0].t if events else 0.0
        cues = []
        numbers: dict[str, int] = {}
        for number, event in enumerate(events, 1):
            offset = event.t - start
            if channel == "read":
                cues.append(Cue(offset, None, str(event.event), message=event.data))
                continue
            name, data = sse_form(event)
            kind = data.get("type") if isinstance(data, dict) and isinstance(data.get("type"), str) else ""
            recorded = sse_id(event.id)
            if recorded is not None:
                numbers.setdefault(recorded, number)
            cues.append(Cue(offset, number, kind, frame=sse_frame(recorded, name, data)))
        replay = cls(recording.path, replay_lens_id(recording.path), channel, cues, recording.session_ids,
                     recording.duration, numbers=numbers)
        replay.lens = replay.metadata()
        return replay

    def number_of(self, last_event_id: str) -> int | None:
        """Where a reader resuming after this recorded id starts (None: not a recorded id)."""
        return self.numbers.get(last_event_id)

    def metadata(self) -> dict:
        """The lens as GET /lens/metadata lists it: its output_streams name the channel, so
        `--channel auto` picks the recorded one."""
        config: dict = {
            "model_pipeline": [{"processor_name": NOOP_PROCESSOR, "processor_config": {}}],
            "model_parameters": {},
        }
        if self.channel == "sse":
            config["output_streams"] = [{"stream_type": SSE_WRITER, "stream_config": {}}]
        return {
            "lens_id": self.lens_id,
            "lens_name": f"Replay of {self.path.name}",
            "lens_status": "LENS_STATUS_MOUNTED",
            "lens_modifiable": False,
            "lens_config": config,
            "replay": {  # emulator-only: what the lens replays
                "file": self.path.name,
                "channel": self.channel,
                "events": len(self.cues),
                "duration_s": round(self.duration, 3),
                "sessions": self.sessions,
                "ids": "recorded" if self.channel == "sse" else "mailbox positions",
            },
        }

    def describe(self) -> str:
        ids = "" if self.channel == "read" else ", recorded ids"
        return (f"{self.lens_id}: {len(self.cues)} events from {self.path.name} on "
                f"{'SSE' if self.channel == 'sse' else 'the mailbox'} over {self.duration:.1f} s{ids}")


def sse_id(recorded: str | None) -> str | None:
    """A recorded id as an `id:` field can carry it (no line breaks, no NUL); None for none."""
    if not recorded:
        return None
    cleaned = re.sub(r"[\r\n\0]", "", recorded)
    return cleaned or None


def sse_form(event: RecordedEvent) -> tuple[str, object]:
    """(SSE event name, payload) of a recorded event; a mailbox message becomes the payload
    the emulator would have sent on SSE."""
    if event.channel == "read":
        message = event.data
        if isinstance(message, dict) and "type" in message:
            return "message", {"type": message.get("type"), "event_data": message.get("data")}
        return "message", message
    name = re.sub(r"[\r\n]", "", event.event) or "message"
    return name, event.data


def sse_frame(event_id: str | None, name: str, data: object) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    lines = "".join(f"data: {line}\n" for line in re.split(r"\r\n|\r|\n", text))
    id_line = f"id: {event_id}\n" if event_id is not None else ""
    return f"event: {name}\n{id_line}{lines}\n".encode()


def load(paths: Iterable[str | Path | Replay]) -> list[Replay]:
    """Read and check every recording (RecordingError names the file and line, exit 2)."""
    replays: dict[str, Replay] = {}
    for raw in paths:
        replay = raw if isinstance(raw, Replay) else Replay.of(read_recording(Path(raw)))
        other = replays.get(replay.lens_id)
        if other is not None:
            raise UsageError(f"--replay {other.path} and {replay.path} would both be the lens {replay.lens_id}",
                             hint="rename one of the files: the lens is named after the file")
        replays[replay.lens_id] = replay
    return list(replays.values())


class Player:
    """One session's replay: waits for its start, then emits the cues on their schedule."""

    def __init__(self, state, session, replay: Replay) -> None:
        self.state = state
        self.session = session
        self.replay = replay
        self.wanted = False
        self.started = False
        self.index = 0
        self.clock = 0.0  # monotonic time the last emitted cue was due
        self.seen_up_to = 0  # the first consumer's Last-Event-ID: cues up to it have no gaps

    @property
    def channel(self) -> str:
        return self.replay.channel

    def consumer(self, cursor: int = 0) -> None:
        """An SSE consumer connected (cursor: after which id it reads)."""
        if self.channel == "sse":
            self._want(cursor)

    def reader(self) -> None:
        """A session.read arrived."""
        if self.channel == "read":
            self._want(0)

    def running(self) -> None:
        """The session became RUNNING."""
        self._maybe_start()

    def _want(self, cursor: int) -> None:
        if not self.wanted:
            self.wanted = True
            self.seen_up_to = cursor
        self._maybe_start()

    def _maybe_start(self) -> None:
        if self.started or not self.wanted or self.session.status != status.RUNNING:
            return
        self.started = True
        self.clock = time.monotonic()
        self._emit_due()  # the first event at once, before the request that started it is answered
        if self.index < len(self.replay.cues):
            start_task(self.session, self._run(), "replay")
        else:
            self._finish()

    def _gap(self) -> float:
        cue = self.replay.cues[self.index]
        speed = self.state.config.replay_speed
        if self.index == 0 or speed <= 0 or (cue.id is not None and cue.id <= self.seen_up_to):
            return 0.0
        return (cue.offset - self.replay.cues[self.index - 1].offset) / speed

    def _held_back(self) -> bool:
        """At speed 0 a replay could outrun its readers by more than the retention: wait for
        the slowest connected one, as the synthetic reader does."""
        session = self.session
        if self.channel != "sse" or not session.readers:
            return False
        slowest = min(session.readers.values())
        return session.outputs.count_after(slowest) >= (session.outputs.events.maxlen or 1000) - 1

    def _emit_due(self) -> None:
        cues = self.replay.cues
        now = time.monotonic()
        emitted = 0
        while self.index < len(cues) and emitted < BURST and not self._held_back():
            gap = self._gap()
            if gap > 0 and self.clock + gap > now:
                break
            self.clock = self.clock + gap if gap > 0 else now
            self._emit(cues[self.index])
            self.index += 1
            emitted += 1
        if emitted and self.channel == "sse":
            self.session.outputs.notify()

    def _emit(self, cue: Cue) -> None:
        session = self.session
        session.num_outputs += 1
        session.num_updates += 1
        session.touch()
        if cue.id is not None:
            session.outputs.append_frame(cue.id, cue.type, cue.frame)
        else:
            session.mail.append(cue.message)

    async def _run(self) -> None:
        session = self.session
        cues = self.replay.cues
        while self.index < len(cues):
            if session.destroyed:
                return
            if self._held_back():
                session.progress.clear()
                try:
                    await asyncio.wait_for(session.progress.wait(), 1.0)
                except asyncio.TimeoutError:
                    pass
                continue
            wait = self.clock + self._gap() - time.monotonic()
            if wait > 0:
                await asyncio.sleep(min(wait, MAX_SLEEP))
                continue
            self._emit_due()
            await asyncio.sleep(0)
        self._finish()

    def _finish(self) -> None:
        if self.channel == "sse":  # the stream ends once each reader has the last event
            self.session.input_done = True
            self.session.outputs.notify()
