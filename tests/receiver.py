"""A real HTTP receiver on loopback for --forward-to tests: it records every request and
answers from a script (status codes, Retry-After, redirects), then 200."""

from __future__ import annotations

import json
import os
import random
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    status: int

    @property
    def json(self):
        return json.loads(self.body)


@dataclass
class Script:
    """What to answer, request after request: a list of statuses (or (status, headers)), then
    `then` forever. `per_path` overrides per URL path."""

    steps: list = field(default_factory=list)
    then: int = 200
    per_path: dict = field(default_factory=dict)
    reject: set = field(default_factory=set)  # Atai-Event-Id values answered with 400
    decide: object = None  # optional callable(headers) -> status, consulted first (None: go on)

    def next(self, path: str, event_id: str, headers=None):
        if callable(self.decide):
            status = self.decide(headers or {})
            if status is not None:
                return status, {}
        if event_id in self.reject:
            return 400, {}
        steps = self.per_path.get(path, self.steps)
        if steps:
            step = steps.pop(0)
            return (step, {}) if isinstance(step, int) else step
        return self.then, {}


class Receiver:
    def __init__(self, script: Script | None = None, port: int = 0) -> None:
        self.script = script or Script()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request (a SIGKILL test): nothing arrived
                    self.close_connection = True
                    return
                with receiver.lock:
                    status, headers = receiver.script.next(self.path, self.headers.get("Atai-Event-Id", ""), self.headers)
                    receiver.received.append(Received(self.path, dict(self.headers), body, status))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def delivered(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.received if 200 <= r.status < 300 and (path is None or r.path == path)]


def free_port() -> int:
    """A loopback port nothing listens on, for a server a test starts later. It is taken below
    the kernel's ephemeral range (so no port-0 bind or outgoing connection is handed it
    meanwhile) and from a block of its own per pytest-xdist worker (so parallel workers never
    pick the same one)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:]
    base = 20000 + 500 * (int(worker) % 24 if worker.isdigit() else 0)
    for port in random.sample(range(base, base + 500), 500):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {base}-{base + 499}")
