"""The one way atai builds an httpx.Client: TLS set up only when an https:// URL needs it.

httpx builds an SSL context (loading the system's CA bundle, ~20-30 ms) as each Client is
made, whether or not anything is ever sent over TLS. Most of atai's invocations talk to
http:// (the emulator, a receiver on loopback, a lens behind a local gateway) or make one
request; they should not pay for a handshake they never do. So the plain transport has no TLS
and the verifying one is built on the first https:// request. With a proxy configured in the
environment, httpx's own transport selection (proxy mounts, NO_PROXY) is kept as is.
"""

from __future__ import annotations

import os
import threading

import httpx


def new_http_client(*, limits: httpx.Limits, **options) -> httpx.Client:
    """httpx.Client(**options) with the given pool limits, TLS built on demand unless a proxy
    variable is set (then exactly httpx's default client)."""
    if _proxy_configured():
        return httpx.Client(limits=limits, **options)
    return httpx.Client(transport=TlsOnDemandTransport(limits), **options)


def _proxy_configured() -> bool:
    # httpx reads HTTP_PROXY, HTTPS_PROXY, ALL_PROXY (any case) and NO_PROXY; only the first
    # three change which transport a request takes.
    return any(name.lower().endswith("_proxy") and name.lower() != "no_proxy" and value
               for name, value in os.environ.items())


class TlsOnDemandTransport(httpx.BaseTransport):
    """http:// on a pool without TLS; https:// on httpx's verifying pool, made on first use."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        # verify=False only spares building a context this pool never uses: it serves http://
        # alone, so there is no certificate to check.
        self._plain = httpx.HTTPTransport(verify=False, limits=limits)
        self._tls: httpx.HTTPTransport | None = None
        self._tls_lock = threading.Lock()

    @property
    def tls_ready(self) -> bool:
        return self._tls is not None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "http":
            return self._plain.handle_request(request)
        return self._tls_transport().handle_request(request)

    def _tls_transport(self) -> httpx.HTTPTransport:
        if self._tls is None:
            with self._tls_lock:  # fleet workers may all make their first request at once
                if self._tls is None:
                    self._tls = httpx.HTTPTransport(limits=self._limits)
        return self._tls

    def close(self) -> None:
        self._plain.close()
        if self._tls is not None:
            self._tls.close()
