"""--forward-to: POST each event to the user's receiver, signed, retried until it is delivered.

One request in flight per session (the caller holds the session's stream meanwhile), each
attempt with a timeout. 2xx is delivered; connection errors, timeouts, 408, 429 (Retry-After
honoured) and 5xx are retried with capped, jittered backoff for as long as the command runs;
anything else, redirects included, rejects that one event. The API key never goes here: this
is its own HTTP client, with no Authorization header (docs/forwarding.md).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

import httpx

from atai_cli.client.backoff import Backoff, parse_retry_after
from atai_cli.errors import UsageError
from atai_cli.protocol.signing import signature

RETRY_STATUSES = frozenset({408, 429})


def check_forward_url(url: str, insecure: bool = False) -> str:
    """http only to a loopback host, else https; anything else is a usage error."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number in range
    except ValueError as exc:
        raise UsageError(f"--forward-to {url!r} is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--forward-to must be an http:// or https:// URL, got {url!r}")
    if parts.scheme == "http" and not insecure and not is_loopback(parts.hostname):
        raise UsageError(
            f"--forward-to {url}: plain http is allowed only to a loopback host (127.0.0.1, ::1, localhost)",
            hint="use https, or pass --insecure-forward to send events unencrypted",
        )
    return url


def header_value(text: str) -> str:
    """Server data made safe for an HTTP header: printable ASCII, the rest percent-encoded."""
    from urllib.parse import quote

    return quote(text, safe="".join(chr(c) for c in range(0x20, 0x7f) if chr(c) not in "%"))


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class Attempt:
    """One request and what came of it, for the stderr line."""

    outcome: str  # delivered | retry | rejected | cancelled
    status: int | None  # None for a connection error or timeout
    ms: float
    detail: str = ""
    retry_in: float | None = None


class Forwarder:
    def __init__(self, url: str, secret: str, *, timeout: float = 10.0, retry_delay: float = 0.5,
                 retry_cap: float = 30.0, trace: Callable[[str], None] | None = None) -> None:
        self.url = url
        self.secret = secret
        self.retry_delay = retry_delay
        self.retry_cap = retry_cap
        self._trace = trace
        self.http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,  # a redirect is a rejection, reported, never followed
            headers={"User-Agent": "atai"},
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )

    def close(self) -> None:
        self.http.close()

    def deliver(self, body: bytes, *, session_id: str, event_id: str | None, event_type: str | None,
                stop: threading.Event, report: Callable[[Attempt], None]) -> Attempt:
        """Send until delivered or rejected (or `stop` is set: cancelled, not delivered)."""
        backoff = Backoff(base=self.retry_delay, cap=self.retry_cap)
        while True:
            headers = {
                "Content-Type": "application/json",
                "Atai-Session-Id": header_value(session_id),
                "Atai-Event-Id": header_value(event_id or ""),
                "Atai-Event-Type": header_value(event_type or ""),
                "Atai-Signature": signature(self.secret, body),
            }
            started = time.monotonic()
            if self._trace:
                self._trace(f"> POST {self.url} Atai-Session-Id={session_id} Atai-Event-Id={event_id or ''} ({len(body)} bytes)")
            try:
                # The status is the answer; the body is never read (nor decoded).
                with self.http.stream("POST", self.url, content=body, headers=headers) as response:
                    status: int | None = response.status_code
                    detail = response.reason_phrase
                    retry_after = parse_retry_after(response.headers.get("retry-after")) if status == 429 else None
                    _drain(response)
            except httpx.TimeoutException:
                status, detail, retry_after = None, "timed out", None
            except (httpx.LocalProtocolError, httpx.UnsupportedProtocol) as exc:
                # Nothing a retry would change: reject this event rather than stall the session.
                attempt = Attempt("rejected", None, (time.monotonic() - started) * 1000, f"cannot send it: {exc}")
                report(attempt)
                return attempt
            except httpx.RequestError as exc:  # connection refused, reset, a protocol error of the receiver
                status, detail, retry_after = None, _short(exc), None
            ms = (time.monotonic() - started) * 1000
            if status is not None and 200 <= status < 300:
                attempt = Attempt("delivered", status, ms)
                report(attempt)
                return attempt
            if status is not None and status < 500 and status not in RETRY_STATUSES:
                attempt = Attempt("rejected", status, ms, detail or "")
                report(attempt)
                return attempt
            delay = retry_after if retry_after is not None else backoff.next_delay()
            report(Attempt("retry", status, ms, detail or "", delay))
            if stop.wait(delay):
                return Attempt("cancelled", status, ms, "stopped before it was delivered")


def _drain(response: httpx.Response, limit: int = 64 * 1024) -> None:
    """Read (a bounded amount of) the body, undecoded, so the connection can be kept alive."""
    seen = 0
    for chunk in response.iter_raw():
        seen += len(chunk)
        if seen > limit:
            break


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return "connection refused" if "refused" in text.lower() else text
