"""LensApi: the Lens API as typed Python calls. Records come back with api_key redacted.

This is the only place that builds Lens events and reads their replies; commands call these
methods and never speak the protocol themselves.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from atai_cli.client.responses import check_reply, clean_record, expect_dict, items, raise_error_reply
from atai_cli.client.rest import RestClient
from atai_cli.errors import AtaiError, NotFoundError, OperationTimeout, ProtocolError, ServerTimeout
from atai_cli.protocol import status
from atai_cli.protocol.messages import is_query_timeout
from atai_cli.protocol.streams import SSE_WRITER, stream_event


if TYPE_CHECKING:
    from atai_cli.client.mailbox_follower import MailboxFollower
    from atai_cli.client.socket import SessionSocket
    from atai_cli.client.sse_follower import SseFollower
    from atai_cli.protocol.events import StatusCallback

# `atai query --template` shorthands for the templates the API names.
QUERY_TEMPLATES = {"image_qa": "image_qa_template_task", "image_bbox": "image_bbox_template_task"}


class SessionDestroyed(NotFoundError):
    """The session exists no more: it was destroyed (the API answers "unknown session")."""

    def __init__(self, session_id: str, record: dict) -> None:
        short = status.short_status(record.get("session_status"))
        super().__init__(f"session {session_id} was destroyed ({short})", resource="session")
        self.session_id = session_id
        self.record = record


@dataclass(frozen=True)
class Validation:
    is_valid: bool
    errors: list[str]

    def as_dict(self) -> dict:
        return {"is_valid": self.is_valid, "error_messages": self.errors}


@dataclass(frozen=True)
class Answer:
    """What the model said about an image: the reply's event_data, and its answer as text."""

    data: Any
    text: str


class LensApi:
    """Typed calls over one RestClient (which owns the endpoint, the key, timeouts, retries
    and the --debug trace); the followers it builds reconnect after reconnect_delay and give
    up after give_up_after seconds of failures."""

    def __init__(self, rest: RestClient, *, reconnect_delay: float = 1.0, give_up_after: float | None = None) -> None:
        self.rest = rest
        self.reconnect_delay = reconnect_delay
        self.give_up_after = give_up_after

    @classmethod
    def connect(cls, endpoint: str, api_key: str, *, reconnect_delay: float = 1.0,
                give_up_after: float | None = None, **rest_options: Any) -> "LensApi":
        """A LensApi on its own RestClient; rest_options are RestClient's (timeout, retries, trace)."""
        return cls(RestClient(endpoint, api_key, **rest_options), reconnect_delay=reconnect_delay,
                   give_up_after=give_up_after)

    @property
    def endpoint(self) -> str:
        return self.rest.endpoint

    @property
    def api_key(self) -> str:
        return self.rest.api_key

    @property
    def timeout(self) -> float:
        return self.rest.timeout

    def close(self) -> None:
        self.rest.close()

    def __enter__(self) -> "LensApi":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _record(self, method: str, path: str, what: str, *, require: str | None = None, **request: Any) -> dict:
        """One request whose answer is a record: a JSON object that does not say no, has
        `require` when given, and comes back cleaned."""
        body = expect_dict(self.rest.request(method, path, **request), what)
        check_reply(body, what)
        if require and not body.get(require):
            raise ProtocolError(f"{what}: the response has no {require}")
        return clean_record(body)

    def _listing(self, path: str, **params: Any) -> list[dict]:
        """Every item of a metadata listing (all shards, no page limit)."""
        body = self.rest.request("GET", path, params={**params, "shard_index": -1, "max_items_per_shard": -1})
        return items(body, f"GET /{path}")

    # -- lenses -------------------------------------------------------------------------
    def list_lenses(self) -> list[dict]:
        return self._listing("lens/metadata")

    def get_lens(self, lens_id: str) -> dict:
        for item in self._listing("lens/metadata", lens_id=lens_id):
            if item.get("lens_id") == lens_id:
                return item
        raise NotFoundError(f"lens {lens_id} not found", resource="lens")

    def register_lens(self, lens_config: dict) -> dict:
        return self._record("POST", "lens/register", "lens register", require="lens_id", json_body={"lens_config": lens_config})

    def clone_lens(self, lens_id: str) -> dict:
        return self._record("POST", "lens/clone", "lens clone", require="lens_id", json_body={"lens_id": lens_id})

    def modify_lens(self, lens_id: str, changes: dict) -> dict:
        return self._record("POST", "lens/modify", "lens modify", json_body={"lens_id": lens_id, **changes})

    def delete_lens(self, lens_id: str) -> dict:
        return self._record("POST", "lens/delete", "lens delete", json_body={"lens_id": lens_id})

    # -- sessions -----------------------------------------------------------------------
    def create_session(self, lens_id: str) -> dict:
        return self._record("POST", "lens/sessions/create", "session create", require="session_id", json_body={"lens_id": lens_id})

    def destroy_session(self, session_id: str) -> dict:
        return self._record("POST", "lens/sessions/destroy", "session destroy", json_body={"session_id": session_id})

    def list_sessions(self) -> list[dict]:
        return self._listing("lens/sessions/metadata")

    def find_session(self, session_id: str) -> dict | None:
        """The metadata record of one session, destroyed ones included; None when unknown."""
        for item in self._listing("lens/sessions/metadata", session_id=session_id):
            if item.get("session_id") == session_id:
                return item
        return None

    def session_fate(self, session_id: str) -> status.SessionFate:
        """After an "unknown session": destroyed (clean end), vanished (exit 4) or alive."""
        try:
            record = self.find_session(session_id)
        except AtaiError:
            return status.SessionFate.ALIVE  # cannot tell now: keep trying, as for any other failure
        if record is None:
            return status.SessionFate.VANISHED
        ended = record.get("session_status") in status.ENDED
        return status.SessionFate.DESTROYED if ended else status.SessionFate.ALIVE

    def session_event(self, session_id: str, event_type: str, event_data: Any = None, *, timeout: float | None = None) -> dict:
        """Send one session event over REST (POST /lens/sessions/events/process)."""
        event: dict[str, Any] = {"type": event_type}
        if event_data is not None:
            event["event_data"] = event_data
        body = self.rest.request(
            "POST", "lens/sessions/events/process", json_body={"session_id": session_id, "event": event}, timeout=timeout,
        )
        body = expect_dict(body, event_type)
        raise_error_reply(body, event_type, session_id=session_id)
        return clean_record(body)

    def session_status(self, session_id: str) -> dict:
        """The session's record; SessionDestroyed (exit 4) when it was destroyed."""
        try:
            record = self.session_event(session_id, "session.status")
        except NotFoundError:
            known = None
            try:
                known = self.find_session(session_id)
            except AtaiError:
                pass
            if known is not None and known.get("session_status") in status.ENDED:
                raise SessionDestroyed(session_id, known) from None
            raise
        if "session_status" not in record:
            raise ProtocolError("session.status: the reply has no session_status")
        return record

    def wait_running(self, session_id: str, timeout: float = 60.0, on_poll: Callable[[dict], None] | None = None) -> dict:
        """Poll session.status until RUNNING; FAILED/DESTROYED raise; the timeout raises exit 5."""
        deadline = time.monotonic() + timeout
        interval = 0.1
        while True:
            record = self.session_status(session_id)
            if on_poll:
                on_poll(record)
            state = record["session_status"]
            if state == status.RUNNING:
                return record
            if state in status.ENDED:
                reason = "; ".join(map(str, record.get("errors") or record.get("error_messages") or [])) or "no reason given"
                raise AtaiError(f"session {session_id} is {status.short_status(state)}: {reason}")
            if time.monotonic() + interval > deadline:
                raise OperationTimeout(f"session {session_id} is still {status.short_status(state)} after {timeout:g}s")
            time.sleep(interval)
            interval = min(1.0, interval * 1.5)

    def validate_session(self, session_id: str) -> Validation:
        reply = self.session_event(session_id, "session.validate")
        data = reply.get("event_data") if isinstance(reply.get("event_data"), dict) else {}
        return Validation(bool(data.get("is_valid")), [str(m) for m in data.get("error_messages") or []])

    def modify_session(self, session_id: str, params: dict) -> dict:
        reply = check_reply(self.session_event(session_id, "session.modify", params), "session.modify")
        return reply.get("event_data") or {}

    def set_input(self, session_id: str, stream_type: str, config: dict) -> dict:
        """input_stream.set: the session's input, replacing any earlier one."""
        reply = self.session_event(session_id, "input_stream.set", stream_event(stream_type, config))
        return check_reply(reply, "input_stream.set", missing="file").get("event_data") or {}

    def set_output(self, session_id: str, stream_type: str = SSE_WRITER, config: dict | None = None) -> dict:
        reply = self.session_event(session_id, "output_stream.set", stream_event(stream_type, config))
        return check_reply(reply, "output_stream.set").get("event_data") or {}

    # -- WebSocket ----------------------------------------------------------------------
    def open_socket(self, session_endpoint: str, *, timeout: float | None = None) -> "SessionSocket":
        from atai_cli.client.socket import SessionSocket  # websocket-client: only for commands that use it

        return SessionSocket(session_endpoint, self.api_key, timeout=timeout or self.timeout, trace=self.rest.trace_to)

    def socket_for(self, session_id: str, *, record: dict | None = None, timeout: float | None = None) -> "SessionSocket":
        """The session's WebSocket, at the session_endpoint its record names (never derived)."""
        record = record or self.session_status(session_id)
        endpoint = record.get("session_endpoint")
        if not endpoint:
            raise ProtocolError(f"session {session_id}: the record has no session_endpoint")
        return self.open_socket(endpoint, timeout=timeout)

    def read_mailbox(self, session_id: str, client_id: str, *, record: dict | None = None) -> list[dict]:
        """One session.read: the messages waiting for this client_id (possibly none)."""
        with self.socket_for(session_id, record=record) as sock:
            reply = sock.request("session.read", {"client_id": client_id})
        check_reply(reply, "session.read")
        body = reply.get("event_data") if isinstance(reply.get("event_data"), dict) else {}
        return [clean_record(m) for m in body.get("messages") or [] if isinstance(m, dict)]

    def push(self, session_id: str, events: Iterable[dict], rate: float, on_sent: Callable[[int], None] | None = None) -> int:
        """Paced session.update pushes over one WebSocket; returns how many were accepted."""
        from atai_cli.client.push import Pacer, push_events

        with self.socket_for(session_id) as sock:
            return push_events(sock, events, Pacer(rate), on_sent=on_sent)

    def model_query(self, session_id: str, image: Path, *, template: str = "image_qa", focus: str | None = None,
                    instruction: str | None = None, model_version: str | None = None,
                    max_new_tokens: int | None = None, timeout: float = 75.0) -> Answer:
        """Ask the model about one image (model.query over the session's WebSocket). `template`
        is a QUERY_TEMPLATES shorthand or a full template name."""
        query: dict[str, Any] = {"template_name": QUERY_TEMPLATES.get(template, template),
                                 "data": [image_payload(image)], "sensor_metadata": {}}
        for key, value in (("focus", focus), ("instruction", instruction), ("model_version", model_version),
                           ("max_new_tokens", max_new_tokens)):
            if value is not None:
                query[key] = value
        with self.socket_for(session_id, timeout=timeout) as sock:
            reply = sock.request("model.query", query, timeout=timeout)
        if reply.get("event_data") is None and is_query_timeout(str(reply.get("message", ""))):
            raise ServerTimeout(f"model.query on {session_id}: the server says '{reply['message']}'")
        reply = clean_record(reply)
        return Answer(reply.get("event_data"), _answer_text(reply))

    # -- files --------------------------------------------------------------------------
    def upload_file(self, path: Path, progress: Callable[[int, int], None] | None = None) -> dict:
        import mimetypes

        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with path.open("rb") as handle:
            reader = _ProgressReader(handle, path.stat().st_size, progress)
            return self._record("POST", "files", "file upload", files={"file": (path.name, reader, mime)},
                                timeout=max(self.timeout, 300))

    def list_files(self) -> list[dict]:
        return items(self.rest.request("GET", "files/metadata"), "GET /files/metadata")

    def delete_file(self, file_id: str) -> dict:
        return self._record("DELETE", f"files/delete/{_quote(file_id)}", "file delete")

    # -- following output ---------------------------------------------------------------
    def consumer_url(self, session_id: str) -> str:
        return self.rest.url(f"lens/sessions/consumer/{_quote(session_id)}")

    def _reconnecting(self, session_id: str, options: dict) -> dict:
        """What every follower of this API gets unless told otherwise: its reconnect policy
        and how to tell, after an "unknown session", whether the session was destroyed."""
        options.setdefault("reconnect_delay", self.reconnect_delay)
        options.setdefault("give_up_after", self.give_up_after)
        options.setdefault("check_gone", lambda: self.session_fate(session_id))
        return options

    def follow_sse(self, session_id: str, **options: Any) -> "SseFollower":
        from atai_cli.client.sse_follower import SseFollower

        return SseFollower(self.rest.http, self.consumer_url(session_id), api_key=self.api_key, trace=self.rest.trace_to,
                           session_id=session_id, **self._reconnecting(session_id, options))

    def follow_mailbox(self, session_id: str, session_endpoint: str, client_id: str, **options: Any) -> "MailboxFollower":
        from atai_cli.client.mailbox_follower import MailboxFollower

        return MailboxFollower(lambda: self.open_socket(session_endpoint), client_id, session_id=session_id,
                               **self._reconnecting(session_id, options))

    def follow(self, record: dict, channel: str, *, since: str | None = None, client_id: str = "",
               offset: int | None = 0, skip: int = 0, liveness: float = 15.0,
               on_status: "StatusCallback | None" = None, before_wait: Callable[[], None] | None = None,
               on_open: Callable[[], None] | None = None,
               on_batch: Callable[[int | None, str], None] | None = None,
               on_warning: Callable[[str], None] | None = None) -> "SseFollower | MailboxFollower":
        """The follower for a session's output on the given channel ("sse" or "read"). Each
        channel takes its own options: since/liveness/on_open for the SSE consumer,
        client_id/offset/skip/on_batch for session.read."""
        session_id = record["session_id"]
        if channel == "sse":
            return self.follow_sse(session_id, since=since, liveness=liveness, on_open=on_open,
                                   on_status=on_status, before_wait=before_wait, on_warning=on_warning)
        endpoint = record.get("session_endpoint")
        if not endpoint:
            raise ProtocolError(f"session {session_id}: the record has no session_endpoint for session.read")
        return self.follow_mailbox(session_id, endpoint, client_id, offset=offset, skip=skip, on_batch=on_batch,
                                   on_status=on_status, before_wait=before_wait, on_warning=on_warning)


def _answer_text(reply: dict) -> str:
    data = reply.get("event_data")
    if not isinstance(data, dict):
        raise ProtocolError("model.query: the reply has no event_data")
    answer = data.get("response", data.get("result"))
    if isinstance(answer, list):
        return "\n".join(map(str, answer))
    if answer is None:
        raise ProtocolError("model.query: the reply has neither event_data.response nor event_data.result")
    return str(answer)


class _ProgressReader:
    """A file wrapper that reports bytes read, so uploads can show a progress bar."""

    def __init__(self, handle, size: int, progress: Callable[[int, int], None] | None) -> None:
        self._handle, self._size, self._progress, self._sent = handle, size, progress, 0

    def read(self, n: int = -1) -> bytes:
        block = self._handle.read(n)
        self._sent += len(block)
        if self._progress:
            self._progress(self._sent, self._size)
        return block


def _quote(segment: str) -> str:
    from urllib.parse import quote

    return quote(segment, safe="")


def image_payload(path: Path) -> dict:
    return {"type": "base64_img", "base64_img": base64.b64encode(path.read_bytes()).decode("ascii")}
