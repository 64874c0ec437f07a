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

from atai_cli.client.rest import RestClient
from atai_cli.errors import AtaiError, NotFoundError, OperationTimeout, ProtocolError, Rejected, ServerTimeout
from atai_cli.protocol import status as st
from atai_cli.protocol.messages import is_query_timeout, is_unknown_session, mentions_not_found, rejection
from atai_cli.protocol.redact import redact
from atai_cli.protocol.streams import SSE_WRITER, stream_event


if TYPE_CHECKING:
    from atai_cli.client.socket import SessionSocket


def clean_record(record: Any) -> Any:
    """Redact secrets and normalise session_status wherever it appears."""
    record = redact(record)
    if isinstance(record, dict) and "session_status" in record:
        record["session_status"] = st.normalize_status(record["session_status"])
    return record


def _expect_dict(body: Any, what: str) -> dict:
    if not isinstance(body, dict):
        raise ProtocolError(f"{what}: expected a JSON object from the server, got {type(body).__name__}")
    return body


def _items(body: Any, what: str) -> list[dict]:
    """A list response, bare or in a cursor page's `data`."""
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        body = body["data"]
    if not isinstance(body, list):
        raise ProtocolError(f"{what}: expected a list")
    return [clean_record(x) for x in body if isinstance(x, dict)]


def check_reply(body: Any, what: str, *, missing: str | None = None) -> Any:
    """Raise Rejected when a reply says no; 'not found' reasons about `missing` raise exit 4."""
    reasons = rejection(body)
    if reasons is not None:
        if missing and mentions_not_found(reasons):
            raise NotFoundError(f"{what} rejected: {'; '.join(reasons)}", resource=missing)
        raise Rejected(what, reasons)
    return body


class SessionDestroyed(NotFoundError):
    """The session exists no more: it was destroyed (the API answers "unknown session")."""

    def __init__(self, session_id: str, record: dict) -> None:
        status = st.short_status(record.get("session_status"))
        super().__init__(f"session {session_id} was destroyed ({status})", resource="session")
        self.session_id = session_id
        self.record = record


@dataclass(frozen=True)
class Destroyed:
    session_id: str
    record: dict | None
    error: AtaiError | None = None
    already: bool = False


@dataclass(frozen=True)
class Validation:
    is_valid: bool
    errors: list[str]

    def as_dict(self) -> dict:
        return {"is_valid": self.is_valid, "error_messages": self.errors}


class LensApi:
    def __init__(
        self,
        endpoint: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 4,
        retry_delay: float = 0.5,
        reconnect_delay: float = 1.0,
        give_up_after: float | None = None,
        trace: Callable[[str], None] | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.reconnect_delay = reconnect_delay
        self.give_up_after = give_up_after
        self._trace = trace
        self.rest = RestClient(
            endpoint, api_key, timeout=timeout, max_retries=max_retries, retry_delay=retry_delay, trace=trace,
        )

    def close(self) -> None:
        self.rest.close()

    def __enter__(self) -> "LensApi":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lenses -------------------------------------------------------------------------
    def list_lenses(self) -> list[dict]:
        body = self.rest.request("GET", "lens/metadata", params={"shard_index": -1, "max_items_per_shard": -1})
        return _items(body, "GET /lens/metadata")

    def get_lens(self, lens_id: str) -> dict:
        body = self.rest.request("GET", "lens/metadata", params={"lens_id": lens_id, "shard_index": -1, "max_items_per_shard": -1})
        for item in _items(body, "GET /lens/metadata"):
            if item.get("lens_id") == lens_id:
                return item
        raise NotFoundError(f"lens {lens_id} not found", resource="lens")

    def register_lens(self, lens_config: dict) -> dict:
        body = _expect_dict(self.rest.request("POST", "lens/register", json_body={"lens_config": lens_config}), "lens register")
        check_reply(body, "lens register")
        if not body.get("lens_id"):
            raise ProtocolError("lens register: the response has no lens_id")
        return clean_record(body)

    def clone_lens(self, lens_id: str) -> dict:
        body = _expect_dict(self.rest.request("POST", "lens/clone", json_body={"lens_id": lens_id}), "lens clone")
        check_reply(body, "lens clone")
        if not body.get("lens_id"):
            raise ProtocolError("lens clone: the response has no lens_id")
        return clean_record(body)

    def modify_lens(self, lens_id: str, changes: dict) -> dict:
        body = _expect_dict(self.rest.request("POST", "lens/modify", json_body={"lens_id": lens_id, **changes}), "lens modify")
        check_reply(body, "lens modify")
        return clean_record(body)

    def delete_lens(self, lens_id: str) -> dict:
        body = _expect_dict(self.rest.request("POST", "lens/delete", json_body={"lens_id": lens_id}), "lens delete")
        check_reply(body, "lens delete")
        return clean_record(body)

    # -- sessions -----------------------------------------------------------------------
    def create_session(self, lens_id: str) -> dict:
        body = _expect_dict(self.rest.request("POST", "lens/sessions/create", json_body={"lens_id": lens_id}), "session create")
        check_reply(body, "session create")
        if not body.get("session_id"):
            raise ProtocolError("session create: the response has no session_id")
        return clean_record(body)

    def destroy_session(self, session_id: str) -> dict:
        body = self.rest.request("POST", "lens/sessions/destroy", json_body={"session_id": session_id})
        body = _expect_dict(body, "session destroy")
        check_reply(body, "session destroy")
        return clean_record(body)

    def list_sessions(self) -> list[dict]:
        body = self.rest.request("GET", "lens/sessions/metadata", params={"shard_index": -1, "max_items_per_shard": -1})
        return _items(body, "GET /lens/sessions/metadata")

    def select_sessions(self, *, lens_ids: Iterable[str] = (), older_than: float | None = None,
                        idle: float | None = None, now: float | None = None) -> list[dict]:
        """Sessions that are not destroyed and match every given selector: on one of these
        lenses, registered more than older_than seconds ago, no event for idle seconds."""
        now = time.time() if now is None else now
        wanted = set(lens_ids)
        chosen = []
        for record in self.list_sessions():
            if record.get("session_status") in st.ENDED:
                continue
            if wanted and record.get("lens_id") not in wanted:
                continue
            if older_than is not None and not _number(record.get("session_duration_sec"), -1.0) >= older_than:
                continue
            if idle is not None:
                last = record.get("last_event_timestamp") or record.get("last_update_timestamp")
                if not now - _number(last, now) >= idle:
                    continue
            chosen.append(record)
        return chosen

    def destroy_many(self, session_ids: Iterable[str], *, check_first: bool = False, workers: int = 16) -> list["Destroyed"]:
        """Destroy sessions concurrently (bounded), one result each, in order. With
        check_first, a session that is destroyed already is reported as such, not again."""
        from concurrent.futures import ThreadPoolExecutor

        ids = list(session_ids)

        def one(session_id: str) -> Destroyed:
            try:
                if check_first:
                    known = self.find_session(session_id)
                    if known is not None and known.get("session_status") in st.ENDED:
                        return Destroyed(session_id, known, already=True)
                return Destroyed(session_id, self.destroy_session(session_id))
            except AtaiError as exc:
                return Destroyed(session_id, None, error=exc)

        if len(ids) <= 1:
            return [one(i) for i in ids]
        with ThreadPoolExecutor(max_workers=min(workers, len(ids)), thread_name_prefix="destroy") as pool:
            return list(pool.map(one, ids))

    def find_session(self, session_id: str) -> dict | None:
        """The metadata record of one session, destroyed ones included; None when unknown."""
        body = self.rest.request("GET", "lens/sessions/metadata",
                                 params={"session_id": session_id, "shard_index": -1, "max_items_per_shard": -1})
        for item in _items(body, "GET /lens/sessions/metadata"):
            if item.get("session_id") == session_id:
                return item
        return None

    def session_fate(self, session_id: str) -> str:
        """After an "unknown session": destroyed (clean end), vanished (exit 4) or alive."""
        from atai_cli.client.followers import ALIVE, DESTROYED, VANISHED

        try:
            record = self.find_session(session_id)
        except AtaiError:
            return ALIVE  # cannot tell now: keep trying, as for any other failure
        if record is None:
            return VANISHED
        return DESTROYED if record.get("session_status") in st.ENDED else ALIVE

    def session_event(self, session_id: str, event_type: str, event_data: Any = None, *, timeout: float | None = None) -> dict:
        """Send one session event over REST (POST /lens/sessions/events/process)."""
        event: dict[str, Any] = {"type": event_type}
        if event_data is not None:
            event["event_data"] = event_data
        body = self.rest.request(
            "POST", "lens/sessions/events/process", json_body={"session_id": session_id, "event": event}, timeout=timeout,
        )
        body = _expect_dict(body, event_type)
        if body.get("type") == "error":
            text = str(body.get("message") or "error")
            if is_unknown_session(text):
                raise NotFoundError(f"session {session_id} not found", resource="session")
            raise Rejected(event_type, [text])
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
            if known is not None and known.get("session_status") in st.ENDED:
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
            if state == st.RUNNING:
                return record
            if state in st.ENDED:
                reason = "; ".join(map(str, record.get("errors") or record.get("error_messages") or [])) or "no reason given"
                raise AtaiError(f"session {session_id} is {st.short_status(state)}: {reason}")
            if time.monotonic() + interval > deadline:
                raise OperationTimeout(f"session {session_id} is still {st.short_status(state)} after {timeout:g}s")
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

        return SessionSocket(session_endpoint, self.api_key, timeout=timeout or self.timeout, trace=self._trace)

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

    def model_query(self, session_id: str, query: dict, *, timeout: float = 75.0) -> dict:
        with self.socket_for(session_id, timeout=timeout) as sock:
            reply = sock.request("model.query", query, timeout=timeout)
        if reply.get("event_data") is None and is_query_timeout(str(reply.get("message", ""))):
            raise ServerTimeout(f"model.query on {session_id}: the server says '{reply['message']}'")
        return clean_record(reply)

    # -- probes (doctor) ------------------------------------------------------------------
    PROBE_SESSION = "lsn-atai-doctor-probe"

    def probe_websocket(self) -> str:
        """Open a session WebSocket. A running session's own session_endpoint is used when
        there is one; otherwise the path the API documents for session_endpoint, for an id
        that does not exist (its refusal still proves WebSocket upgrades get through)."""
        endpoint = next((s.get("session_endpoint") for s in self.list_sessions() if s.get("session_endpoint")), None)
        if endpoint is None:
            base = self.endpoint.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
            endpoint = f"{base}/lens/sessions/{self.PROBE_SESSION}"
        sock = self.open_socket(endpoint)
        sock.connect_timeout = 10
        try:
            sock.connect()
        except NotFoundError:
            return "answers (an unknown session is refused, as expected)"
        finally:
            sock.close()
        return f"answers ({endpoint.rsplit('/', 1)[-1]})"

    def probe_sse(self) -> str:
        try:
            self.rest.request("GET", f"lens/sessions/consumer/{self.PROBE_SESSION}", timeout=10)
        except NotFoundError:
            return "answers (an unknown session is refused, as expected)"
        return "answers"

    # -- files --------------------------------------------------------------------------
    def upload_file(self, path: Path, progress: Callable[[int, int], None] | None = None) -> dict:
        import mimetypes

        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with path.open("rb") as handle:
            reader = _ProgressReader(handle, path.stat().st_size, progress)
            body = self.rest.request(
                "POST", "files", files={"file": (path.name, reader, mime)}, timeout=max(self.timeout, 300),
            )
        body = _expect_dict(body, "file upload")
        check_reply(body, "file upload")
        return clean_record(body)

    def list_files(self) -> list[dict]:
        return _items(self.rest.request("GET", "files/metadata"), "GET /files/metadata")

    def delete_file(self, file_id: str) -> dict:
        body = _expect_dict(self.rest.request("DELETE", f"files/delete/{_quote(file_id)}"), "file delete")
        check_reply(body, "file delete")
        return clean_record(body)

    # -- following output ---------------------------------------------------------------
    def consumer_url(self, session_id: str) -> str:
        return self.rest.url(f"lens/sessions/consumer/{_quote(session_id)}")

    def follow_sse(self, session_id: str, **kwargs):
        from atai_cli.client.sse_follower import SseFollower

        kwargs.setdefault("reconnect_delay", self.reconnect_delay)
        kwargs.setdefault("give_up_after", self.give_up_after)
        kwargs.setdefault("check_gone", lambda: self.session_fate(session_id))
        return SseFollower(self.rest.http, self.consumer_url(session_id), api_key=self.api_key, trace=self._trace,
                           session_id=session_id, **kwargs)

    def follow_mailbox(self, session_id: str, session_endpoint: str, client_id: str, **kwargs):
        from atai_cli.client.mailbox_follower import MailboxFollower

        kwargs.setdefault("reconnect_delay", self.reconnect_delay)
        kwargs.setdefault("give_up_after", self.give_up_after)
        kwargs.setdefault("check_gone", lambda: self.session_fate(session_id))
        return MailboxFollower(lambda: self.open_socket(session_endpoint), client_id, session_id=session_id, **kwargs)

    def follow(self, record: dict, channel: str, *, since: str | None = None, client_id: str = "",
               offset: int = 0, skip: int = 0, liveness: float = 15.0, **kwargs):
        """The follower for a session's output on the given channel ("sse" or "read")."""
        session_id = record["session_id"]
        if channel == "sse":
            kwargs.pop("on_batch", None)
            return self.follow_sse(session_id, since=since, liveness=liveness, **kwargs)
        endpoint = record.get("session_endpoint")
        if not endpoint:
            raise ProtocolError(f"session {session_id}: the record has no session_endpoint for session.read")
        kwargs.pop("on_open", None)
        return self.follow_mailbox(session_id, endpoint, client_id, offset=offset, skip=skip, **kwargs)


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


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _quote(segment: str) -> str:
    from urllib.parse import quote

    return quote(segment, safe="")


def image_payload(path: Path) -> dict:
    return {"type": "base64_img", "base64_img": base64.b64encode(path.read_bytes()).decode("ascii")}
