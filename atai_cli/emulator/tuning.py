"""Timings and fault injection. 16 of these are flags of `atai emulator` (commands/emulator.py);
every one can be changed at run time with POST /_emulator/config (tests use that to make slow
cases fast and to inject faults). Values are checked and coerced by the model, on every change."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError


class EmulatorConfig(BaseModel):
    # Assignments are validated too, so a value set at run time has its field's type; numbers
    # sent for a text field (fail_path=5) are taken as text, as the admin API always did.
    model_config = ConfigDict(validate_assignment=True, extra="forbid", coerce_numbers_to_str=True)

    # timings
    heartbeat_s: float = 5.0  # sse.stream.heartbeat period while idle
    comment_keepalive: bool = False  # keep idle streams alive with ": ping" comments instead
    idle_timeout_s: float = 60.0  # sse.stream.end after this long without output (0 = never)
    start_delay_s: float = 0.2  # REGISTERED -> RUNNING
    output_interval_s: float = 0.2  # pacing of file/camera readers' results
    retention: int = 1000  # output events kept per session for Last-Event-ID replay
    read_batch: int = 100  # most messages one session.read returns
    query_delay_s: float = 0.0  # how long model.query "thinks"
    query_timeout_s: float = 60.0  # model.query gives up after this ("Response timed out for query")
    # The model answers one input at a time, this long each (the real Newton takes seconds:
    # about one inference per second per session). 0 = answer at once, inline (fast tests).
    model_latency_s: float = 0.5
    # Without Last-Event-ID, a session's first SSE reader is sent what the session produced
    # before any reader connected (so push-then-consume works); later readers are live-only.
    # True = every reader is live-only, strictly as observed on the real API.
    live_only: bool = False
    # Replayed recordings (--replay): the recorded gaps between events are divided by this
    # (read before each gap, so a change applies to running replays). 0 = no gaps.
    replay_speed: float = 1.0
    # faults
    drop_every: int = 0  # close every SSE connection after N output events (0 = never)
    drop_partial: bool = True  # ...leaving half a frame on the wire
    silence_after: int = 0  # after N output events on a connection, send nothing at all (0 = never)
    silence_connections: int = 1  # how many connections go silent (0 = every one)
    fail_count: int = 0  # answer the next N REST requests with fail_status
    fail_rate: float = 0.0  # answer this share of REST requests with fail_status
    fail_status: int = 503
    fail_path: str = ""  # only inject into requests whose path contains this (e.g. "consumer")
    retry_after: float = -1.0  # Retry-After seconds on injected failures (<0 = no header)
    delay_s: float = 0.0  # delay every REST response
    ws_drop_every: int = 0  # close each WebSocket after N replies (0 = never)
    # On each WebSocket, the Nth session.read that hands over messages takes effect (the
    # reader's cursor moves) but the socket closes before its reply: a reply lost on the wire.
    ws_lose_batch_every: int = 0
    ws_noise: int = 0  # send N junk frames (non-JSON, unrelated type) before each WebSocket reply
    ignore_last_event_id: bool = False  # replay everything retained on every connection
    sse_garbage: bool = False  # send a frame whose data is not JSON right after sse.stream.start
    sse_retry_ms: int = -1  # send `retry:` in sse.stream.start (<0 = never, as the real API)
    fail_sessions: bool = False  # new sessions go FAILED instead of RUNNING
    ws_silent_types: str = ""  # comma-separated event types the WebSocket never answers
    redirect_location: str = ""  # the Location of an injected 3xx (empty: back to itself)

    def update(self, values: dict) -> list[str]:
        """Apply the known fields, all or none (ValueError: which values are wrong); return
        the unknown names."""
        known = {name: value for name, value in values.items() if name in type(self).model_fields}
        try:
            checked = self.model_validate({**self.model_dump(), **known})
        except ValidationError as exc:
            raise ValueError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
        for name in known:
            setattr(self, name, getattr(checked, name))
        return [name for name in values if name not in known]

    def restore(self, other: "EmulatorConfig") -> None:
        """Take every value of `other` in place: the runners, faults and models hold this object."""
        for name in type(self).model_fields:
            setattr(self, name, getattr(other, name))

    def as_dict(self) -> dict:
        return self.model_dump()

    def copy(self) -> "EmulatorConfig":  # type: ignore[override] - BaseModel.copy is deprecated anyway
        return self.model_copy()
