"""REST over one httpx.Client: timeouts, retries with backoff and Retry-After, typed errors."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

import httpx

from atai_cli.client.backoff import Backoff, parse_retry_after
from atai_cli.client.http_client import new_http_client
from atai_cli.client.responses import RETRY_STATUSES, request_json, status_error
from atai_cli.errors import NetworkError, OperationTimeout, ProtocolError
from atai_cli.protocol.redact import redact_text

Trace = Callable[[str], None]


def error_details(body: Any, text: str = "") -> tuple[str | None, str]:
    """(code, message) from any error shape the API is known to use."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            message = str(first.get("message") or first.get("code") or "error")
            if first.get("suggestion"):
                message += f" ({first['suggestion']})"
            return first.get("code"), message
        if isinstance(body.get("error"), dict):
            return body["error"].get("code"), str(body["error"].get("message", "error"))
        if "detail" in body:
            return None, str(body["detail"])
        if body.get("error_messages"):
            return None, "; ".join(map(str, body["error_messages"]))
        if "message" in body:
            return None, str(body["message"])
    snippet = " ".join(text.split())[:120]
    return None, snippet or "no details in the response"


RESOURCE_BY_CODE = {"lens_not_found": "lens", "session_not_found": "session", "file_not_found": "file",
                    "upload_not_found": "file"}


def resource_of(url: str, code: str | None = None) -> str | None:
    """Which kind of thing a 404 is about: from the error code, else from the path."""
    if code in RESOURCE_BY_CODE:
        return RESOURCE_BY_CODE[code]
    if "/sessions" in url:
        return "session"
    if "/files" in url:
        return "file"
    if "/lens" in url:
        return "lens"
    return None


def raise_for_status(status: int, url: str, body: Any, text: str = "") -> None:
    """Map an HTTP error status to the typed error the CLI turns into an exit code."""
    code, message = error_details(body, text)
    raise status_error(status, url, message, resource=resource_of(url, code), code=code)


NOTIFY_AFTER = 2.0  # seconds: a retry wait at least this long is said on stderr, not only in --debug


class RedirectLoop(httpx.HTTPError):
    """A redirect to where the request already was (e.g. an empty Location)."""


def _refuse_redirect_loops(response: httpx.Response) -> None:
    """Stop at the first redirect that leads back to a URL already visited, instead of
    following it until httpx's limit (about 20 quick requests)."""
    if not response.has_redirect_location:
        return
    target = response.url.join(response.headers.get("location", ""))
    visited = {str(r.url) for r in response.history} | {str(response.request.url)}
    if str(target) in visited:
        raise RedirectLoop(f"{response.request.url} redirects back to {target or 'itself'} ({response.status_code}): a redirect loop")


class RestClient:
    """One connection pool, one retry policy. Responses come back as parsed JSON."""

    def __init__(
        self,
        endpoint: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 4,
        retry_delay: float = 0.5,
        trace: Trace | None = None,
        notify: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.notify = notify  # told of a retry long enough to look like a hang (stderr)
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.trace_to = trace  # where --debug lines go (None: nowhere); LensApi's sockets and followers share it
        self._sleep = sleep
        self.http = new_http_client(
            base_url=self.endpoint + "/",
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "atai"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=True,
            max_redirects=5,
            event_hooks={"response": [_refuse_redirect_loops]},
            # One connection per followed session: a fleet tail holds one open SSE stream each.
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=20),
        )

    def close(self) -> None:
        self.http.close()

    def trace(self, text: str) -> None:
        if self.trace_to:
            self.trace_to(redact_text(text, self.api_key))

    def url(self, path: str) -> str:
        return f"{self.endpoint}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict | None = None,
        files: Any = None,
        content: Any = None,
        timeout: float | None = None,
        raw: bool = False,
    ) -> Any:
        url = self.url(path)
        headers = None
        if json_body is not None:  # serialized once, here: NaN is refused before anything is sent
            content = request_json(json_body, f"{method} {path}").encode("utf-8")
            headers = {"Content-Type": "application/json"}
        backoff = Backoff(base=self.retry_delay, cap=30.0)
        attempt = 0
        while True:
            attempt += 1
            self.trace(f"> {method} {url}" + (f" params={params}" if params else ""))
            self.trace("> Authorization: Bearer ***")
            if json_body is not None:
                self.trace(f"> body {content.decode('utf-8')[:500]}")
            try:
                response = self.http.request(
                    method, path.lstrip("/"), params=params, files=files, content=content, headers=headers,
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TimeoutException as exc:
                if isinstance(exc, httpx.ConnectTimeout) and attempt <= self.max_retries:
                    self._wait(backoff.next_delay(), f"connect timeout to {url}")
                    continue
                raise OperationTimeout(f"{method} {url} timed out after {self.timeout if timeout is None else timeout:g}s") from exc
            except httpx.TransportError as exc:
                if attempt <= self.max_retries:
                    self._wait(backoff.next_delay(), f"{type(exc).__name__} on {url}")
                    continue
                raise NetworkError(f"cannot reach {self.endpoint}: {exc or type(exc).__name__}") from exc
            except RedirectLoop as exc:
                raise ProtocolError(str(exc)) from exc
            except httpx.TooManyRedirects as exc:
                raise ProtocolError(f"{url}: too many redirects") from exc
            self.trace(f"< {response.status_code} {response.headers.get('content-type', '')}")
            if response.status_code in RETRY_STATUSES and attempt <= self.max_retries:
                delay = parse_retry_after(response.headers.get("retry-after"))
                self._wait(delay if delay is not None else backoff.next_delay(), f"{response.status_code} from {url}")
                continue
            return self._parse(response, url, raw)

    def _wait(self, delay: float, why: str) -> None:
        self.trace(f"! {why}; retrying in {delay:.2f}s")
        if delay >= NOTIFY_AFTER and self.notify is not None:
            self.notify(f"{why}; retrying in {delay:.0f}s")
        self._sleep(delay)

    def _parse(self, response: httpx.Response, url: str, raw: bool) -> Any:
        status = response.status_code
        if raw and status == 200:
            return response
        text = response.text
        body: Any = None
        problem = "a non-JSON body"
        if text:
            try:
                body = json.loads(text)
            except ValueError:
                body = None
            except RecursionError:  # a reply nested thousands deep: bad data, not atai's bug
                body, problem = None, "a JSON body nested too deeply to read"
            else:
                if body is None:
                    problem = "a JSON null where an object or a list belongs"
        if status >= 400:
            raise_for_status(status, url, body, text)
        if status == 204 or not text:
            return None
        if body is None:
            kind = response.headers.get("content-type", "unknown type")
            raise ProtocolError(
                f"{url} answered {status} with {problem} ({kind})",
                hint="is the endpoint right? It is the Lens API base, e.g. https://api.u1.archetypeai.app/v0.5",
            )
        self.trace(f"< body {redact_text(text[:500], self.api_key)}")
        return body

