"""TLS on demand (client/http_client.py): http:// builds no TLS, https:// verifies as httpx does,
a proxy in the environment keeps httpx's own transports. Real servers on loopback."""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from pathlib import Path

import httpx
import pytest

from atai_cli.client.forwarder import HttpTransport
from atai_cli.client.http_client import TlsOnDemandTransport, new_http_client
from atai_cli.client.rest import RestClient
from atai_cli.errors import NetworkError

TLS = Path(__file__).parent / "data" / "tls"  # a self-signed certificate for 127.0.0.1, valid to 2126


class _Lenses(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps([{"lens_id": "lns-tls"}]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def https_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Lenses)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS / "cert.pem", TLS / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def no_proxy_env(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def _transport(client: RestClient) -> TlsOnDemandTransport:
    transport = client.http._transport
    assert isinstance(transport, TlsOnDemandTransport)
    return transport


def test_http_requests_build_no_tls(emu, no_proxy_env):
    client = RestClient(emu.endpoint, emu.api_key)
    assert any(lens["lens_id"] == "lns-emulator-sse" for lens in client.request("GET", "lens/metadata"))
    assert not _transport(client).tls_ready
    client.http.close()


def test_https_verifies_against_the_environments_ca_file(https_server, no_proxy_env, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(TLS / "cert.pem"))
    client = RestClient(https_server, "key", max_retries=0)
    assert client.request("GET", "lens/metadata") == [{"lens_id": "lns-tls"}]
    assert _transport(client).tls_ready
    client.http.close()


def test_https_refuses_an_unknown_certificate(https_server, no_proxy_env, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    client = RestClient(https_server, "key", max_retries=0)
    with pytest.raises(NetworkError, match="(?i)certificate"):
        client.request("GET", "lens/metadata")
    client.http.close()


def test_a_proxy_in_the_environment_keeps_httpxs_own_client(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    client = new_http_client(limits=httpx.Limits(max_connections=4))
    assert not isinstance(client._transport, TlsOnDemandTransport)
    assert any(pattern.scheme == "https" for pattern in client._mounts)  # httpx routes https via the proxy
    client.close()


def test_no_proxy_alone_is_not_a_proxy(monkeypatch, no_proxy_env):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    client = new_http_client(limits=httpx.Limits(max_connections=4))
    assert isinstance(client._transport, TlsOnDemandTransport)
    client.close()


def test_the_forwarder_posts_over_http_without_tls(no_proxy_env):
    transport = HttpTransport("http://127.0.0.1:9/hook", "secret")
    assert isinstance(transport.http._transport, TlsOnDemandTransport)
    assert not transport.http._transport.tls_ready
    transport.close()
