"""The recording format of `atai tail --record` and `atai emulator --replay` (contract v2).

JSON lines: first a header
  {"atai_recording": 1, "created_at": "<ISO 8601 UTC>", "sessions": {SID: {"lens_id", "channel"}}}
then one line per lens output event received (before filtering, no envelope events):
  {"t": <seconds since the recording started>, "session_id", "id", "event", "channel", "data"}
Every api_key field anywhere in a payload is written as "***". Sessions discovered after the
recording started appear in event lines only (each line names its session and channel).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from atai_cli.errors import UsageError
from atai_cli.protocol.events import OutputEvent
from atai_cli.protocol.redact import redact

FORMAT = 1
CHANNELS = ("sse", "read")
REPLAY_LENS_PREFIX = "lns-replay-"


class RecordingError(UsageError):
    """A file that is not a recording, with the line and what is wrong."""


def header(sessions: dict[str, dict], created_at: datetime | None = None) -> dict:
    created = (created_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return {
        "atai_recording": FORMAT,
        "created_at": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "sessions": {sid: {"lens_id": info.get("lens_id"), "channel": info.get("channel")} for sid, info in sessions.items()},
    }


def event_line(t: float, event: OutputEvent) -> dict:
    return {"t": round(t, 6), "session_id": event.session_id, "id": event.id, "event": event.event,
            "channel": event.channel, "data": redact(event.data)}


@dataclass
class RecordedEvent:
    t: float
    session_id: str
    id: str | None
    event: str
    channel: str
    data: Any
    line: int = 0


@dataclass
class Recording:
    path: Path
    header: dict
    events: list[RecordedEvent] = field(default_factory=list)

    @property
    def created_at(self) -> datetime:
        return parse_created_at(self.header["created_at"])

    @property
    def channel(self) -> str:
        """The channel a replay uses: the recorded one, SSE when the sessions mixed both."""
        channels = {e.channel for e in self.events} or {s.get("channel") for s in self.header["sessions"].values()}
        return "read" if channels == {"read"} else "sse"

    @property
    def session_ids(self) -> list[str]:
        """Every recorded session: the header's, then those only event lines name."""
        return list(dict.fromkeys([*self.header["sessions"], *(e.session_id for e in self.events)]))

    @property
    def duration(self) -> float:
        """Seconds from the first event to the last."""
        return self.events[-1].t - self.events[0].t if self.events else 0.0


def replay_name(path: Path) -> str:
    """The name a replay gives its recording: the file name without its extension, every
    character other than an ASCII letter, a digit or `-` made a `-` (rec.jsonl -> rec)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", Path(path).stem) or "recording"


def replay_lens_id(path: Path) -> str:
    """`atai emulator --replay FILE` serves the recording as the lens lns-replay-<name>."""
    return REPLAY_LENS_PREFIX + replay_name(path)


def parse_created_at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _fail(path: Path, line: int, what: str) -> RecordingError:
    return RecordingError(f"{path}:{line}: {what}", hint="record one with `atai tail SESSION_ID --record FILE`")


def _header_model():
    """The pydantic model of a header line, built on first use (pydantic is slow to import)."""
    global _HEADER
    if _HEADER is None:
        from typing import Literal

        from pydantic import BaseModel, ConfigDict, field_validator

        class SessionEntry(BaseModel):
            model_config = ConfigDict(extra="allow")
            lens_id: str | None = None
            channel: Literal["sse", "read"]

        class Header(BaseModel):
            model_config = ConfigDict(extra="allow")
            atai_recording: Literal[1]
            created_at: str
            sessions: dict[str, SessionEntry]

            @field_validator("created_at")
            @classmethod
            def _iso(cls, value: str) -> str:
                parse_created_at(value)  # ValueError: not an ISO 8601 time
                return value

        _HEADER = Header
    return _HEADER


_HEADER = None


def check_header(path: Path, value: Any, line: int = 1) -> dict:
    if not isinstance(value, dict) or value.get("atai_recording") is None:
        raise _fail(path, line, "not an atai recording: the first line must be the header {\"atai_recording\": 1, ...}")
    from pydantic import ValidationError

    try:
        _header_model().model_validate(value)
    except ValidationError as exc:
        raise _fail(path, line, _header_problem(exc.errors()[0], value)) from None
    return value


def _header_problem(error: dict, value: dict) -> str:
    """The first rule a header broke, in the words of the format."""
    where = [str(part) for part in error.get("loc") or ()]
    field = where[0] if where else ""
    if field == "atai_recording":
        return f"recording format {value.get('atai_recording')!r} is not one this atai reads ({FORMAT})"
    if field == "created_at":
        return f"created_at {value.get('created_at')!r} is not an ISO 8601 time"
    if field == "sessions" and len(where) >= 2:
        return f"session {where[1]}: channel must be \"sse\" or \"read\""
    return "sessions must be an object {SESSION_ID: {lens_id, channel}}"


def check_event(path: Path, value: Any, line: int) -> RecordedEvent:
    if not isinstance(value, dict):
        raise _fail(path, line, "expected a JSON object")
    t = value.get("t")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or t < 0:
        raise _fail(path, line, f"t must be a number of seconds >= 0, got {t!r}")
    if not isinstance(value.get("session_id"), str) or not value["session_id"]:
        raise _fail(path, line, "session_id (a string) is missing")
    if value.get("channel") not in CHANNELS:
        raise _fail(path, line, f"channel must be \"sse\" or \"read\", got {value.get('channel')!r}")
    if value.get("id") is not None and not isinstance(value["id"], str):
        raise _fail(path, line, f"id must be a string or null, got {value['id']!r}")
    if "data" not in value:
        raise _fail(path, line, "data is missing")
    return RecordedEvent(float(t), value["session_id"], value.get("id"), str(value.get("event") or "message"),
                         value["channel"], value["data"], line)


def read_recording(path: Path) -> Recording:
    """The whole recording, checked line by line (RecordingError names the first bad line)."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise RecordingError(f"no such recording: {path}") from None
    except UnicodeDecodeError:
        raise _fail(path, 1, "not UTF-8 text") from None
    except OSError as exc:
        raise RecordingError(f"cannot read {path}: {exc.strerror or exc}") from None
    recording: Recording | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise _fail(path, number, f"not JSON ({exc.msg})") from None
        if recording is None:
            recording = Recording(path, check_header(path, value, number))
            continue
        event = check_event(path, value, number)
        if recording.events and event.t < recording.events[-1].t:
            raise _fail(path, number, f"t goes back in time ({event.t} after {recording.events[-1].t})")
        recording.events.append(event)
    if recording is None:
        raise _fail(path, 1, "the file is empty: no header")
    return recording


def read_header(path: Path) -> dict:
    """Only the header line (for --record-append)."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, raw in enumerate(handle, 1):
            if raw.strip():
                try:
                    return check_header(path, json.loads(raw), number)
                except ValueError as exc:
                    raise _fail(path, number, f"not JSON ({exc})") from None
    raise _fail(path, 1, "the file is empty: no header")


def last_t(path: Path) -> float:
    """The `t` of a recording's last event line (0 when it has none): where appending goes on."""
    last = 0.0
    with path.open(encoding="utf-8", errors="replace") as handle:
        for raw in handle:
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except ValueError:
                continue
            t = value.get("t") if isinstance(value, dict) else None
            if isinstance(t, (int, float)) and not isinstance(t, bool):
                last = max(last, float(t))
    return last
