"""LensApi: the Lens API as Python calls. Records come back with api_key already redacted."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any, Callable

from atai_cli.client.rest import RestClient
from atai_cli.client.socket import SessionSocket
from atai_cli.errors import ApiError, AtaiError, NotFoundError, OperationTimeout, ProtocolError
from atai_cli.protocol import status as st
from atai_cli.protocol.messages import is_query_timeout, is_unknown_session
from atai_cli.protocol.redact import redact



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
        trace: Callable[[str], None] | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.reconnect_delay = reconnect_delay
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
        if isinstance(body, dict) and isinstance(body.get("data"), list):
            body = body["data"]
        if not isinstance(body, list):
            raise ProtocolError("GET /lens/metadata: expected a list of lenses")
        return [clean_record(x) for x in body if isinstance(x, dict)]

    def get_lens(self, lens_id: str) -> dict:
        body = self.rest.request("GET", "lens/metadata", params={"lens_id": lens_id, "shard_index": -1, "max_items_per_shard": -1})
        items = body.get("data") if isinstance(body, dict) else body
        for item in items or []:
            if isinstance(item, dict) and item.get("lens_id") == lens_id:
                return clean_record(item)
        raise NotFoundError(f"lens {lens_id} not found", hint="list lenses with `atai lens list`")

    def register_lens(self, lens_config: dict) -> dict:
        body = _expect_dict(self.rest.request("POST", "lens/register", json_body={"lens_config": lens_config}), "lens register")
        self._check_valid(body, "lens register")
        if not body.get("lens_id"):
            raise ProtocolError("lens register: the response has no lens_id")
        return clean_record(body)

    def clone_lens(self, lens_id: str) -> dict:
        body = _expect_dict(self.rest.request("POST", "lens/clone", json_body={"lens_id": lens_id}), "lens clone")
        self._check_valid(body, "lens clone")
        if not body.get("lens_id"):
            raise ProtocolError("lens clone: the response has no lens_id")
        return clean_record(body)

    def modify_lens(self, lens_id: str, params: dict) -> dict:
        body = _expect_dict(self.rest.request("POST", "lens/modify", json_body={"lens_id": lens_id, **params}), "lens modify")
        self._check_valid(body, "lens modify")
        return clean_record(body)

    def delete_lens(self, lens_id: str) -> dict:
        body = _expect_dict(self.rest.request("POST", "lens/delete", json_body={"lens_id": lens_id}), "lens delete")
        self._check_valid(body, "lens delete")
        return clean_record(body)

    @staticmethod
    def _check_valid(body: dict, what: str) -> None:
        if body.get("is_valid") is False or body.get("errors"):
            messages = body.get("error_messages") or [
                e.get("message", str(e)) if isinstance(e, dict) else str(e) for e in body.get("errors") or []
            ]
            raise ApiError(f"{what} rejected: {'; '.join(map(str, messages)) or 'no reason given'}")

    # -- sessions -----------------------------------------------------------------------
    def create_session(self, lens_id: str) -> dict:
        body = _expect_dict(self.rest.request("POST", "lens/sessions/create", json_body={"lens_id": lens_id}), "session create")
        self._check_valid(body, "session create")
        if not body.get("session_id"):
            raise ProtocolError("session create: the response has no session_id")
        return clean_record(body)

    def destroy_session(self, session_id: str) -> dict:
        body = self.rest.request("POST", "lens/sessions/destroy", json_body={"session_id": session_id})
        body = _expect_dict(body, "session destroy")
        self._check_valid(body, "session destroy")
        return clean_record(body)

    def list_sessions(self) -> list[dict]:
        body = self.rest.request(
            "GET", "lens/sessions/metadata", params={"shard_index": -1, "max_items_per_shard": -1},
        )
        if isinstance(body, dict) and isinstance(body.get("data"), list):
            body = body["data"]
        if not isinstance(body, list):
            raise ProtocolError("GET /lens/sessions/metadata: expected a list of sessions")
        return [clean_record(x) for x in body if isinstance(x, dict)]

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
                raise NotFoundError(f"session {session_id} not found: {text}", hint="list sessions with `atai session list`")
            raise ApiError(f"{event_type} failed: {text}")
        return clean_record(body)

    def session_status(self, session_id: str) -> dict:
        record = self.session_event(session_id, "session.status")
        if "session_status" not in record:
            raise ProtocolError("session.status: the reply has no session_status")
        return record

    def wait_running(
        self,
        session_id: str,
        timeout: float = 60.0,
        on_poll: Callable[[dict], None] | None = None,
    ) -> dict:
        """Poll session.status until RUNNING; FAILED/DESTROYED raise, the timeout raises exit 5."""
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
                raise OperationTimeout(
                    f"session {session_id} is still {st.short_status(state)} after {timeout:g}s",
                    hint="raise --timeout, or check it later with `atai session status`",
                )
            time.sleep(interval)
            interval = min(1.0, interval * 1.5)

    # -- WebSocket ----------------------------------------------------------------------
    def open_socket(self, session_endpoint: str, *, timeout: float | None = None) -> SessionSocket:
        return SessionSocket(session_endpoint, self.api_key, timeout=timeout or self.timeout, trace=self._trace)

    def socket_for(self, session_id: str, *, timeout: float | None = None) -> SessionSocket:
        record = self.session_status(session_id)
        endpoint = record.get("session_endpoint")
        if not endpoint:
            raise ProtocolError(f"session {session_id}: the record has no session_endpoint")
        return self.open_socket(endpoint, timeout=timeout)

    def model_query(self, session_id: str, query: dict, *, timeout: float = 75.0) -> dict:
        with self.socket_for(session_id, timeout=timeout) as sock:
            reply = sock.request("model.query", query, timeout=timeout)
        if reply.get("event_data") is None and is_query_timeout(str(reply.get("message", ""))):
            raise OperationTimeout(
                f"model.query on {session_id}: the server says '{reply['message']}'",
                hint="the lens may not answer queries (camera/timeseries pipelines time out); try again or use another lens",
            )
        return clean_record(reply)

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
        self._check_valid(body, "file upload")
        return clean_record(body)

    def list_files(self) -> list[dict]:
        body = self.rest.request("GET", "files/metadata")
        items = body.get("data") if isinstance(body, dict) else body
        if not isinstance(items, list):
            raise ProtocolError("GET /files/metadata: expected a list of files")
        return [clean_record(x) for x in items if isinstance(x, dict)]

    def delete_file(self, file_id: str) -> dict:
        body = _expect_dict(self.rest.request("DELETE", f"files/delete/{_quote(file_id)}"), "file delete")
        self._check_valid(body, "file delete")
        return clean_record(body)

    # -- following output ---------------------------------------------------------------
    def consumer_url(self, session_id: str) -> str:
        return self.rest.url(f"lens/sessions/consumer/{_quote(session_id)}")

    def follow_sse(self, session_id: str, **kwargs):
        from atai_cli.client.sse import SseFollower

        kwargs.setdefault("reconnect_delay", self.reconnect_delay)
        return SseFollower(self.rest.http, self.consumer_url(session_id), api_key=self.api_key, trace=self._trace, **kwargs)

    def follow_mailbox(self, session_endpoint: str, client_id: str, **kwargs):
        from atai_cli.client.mailbox import MailboxFollower

        kwargs.setdefault("reconnect_delay", self.reconnect_delay)
        return MailboxFollower(lambda: self.open_socket(session_endpoint), client_id, **kwargs)


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

