"""Run the emulator: in the foreground (`atai emulator`) or in a thread (tests, benchmarks)."""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Sequence

import uvicorn

from atai_cli.emulator.asgi import Emulator
from atai_cli.emulator.replay import Replay
from atai_cli.emulator.replay import load as load_replays
from atai_cli.emulator.tuning import EmulatorConfig


class _QuietDenials(logging.Filter):
    """uvicorn logs a refused WebSocket handshake (our 401/404 denial responses) as an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing handshake" not in record.getMessage()


def _quiet_denials() -> None:
    """Installed when a server is set up, not on import: importing the emulator changes no logging."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDenials) for f in logger.filters):
        logger.addFilter(_QuietDenials())


def generate_key() -> str:
    return "atai-emu-" + secrets.token_hex(16)


class EmulatorServer:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        config: EmulatorConfig | None = None,
        prefix: str = "/v0.5",
        log_level: str = "warning",
        replay: Sequence[str | Path | Replay] = (),
        ws_ping_interval: float | None = None,
    ) -> None:
        self.host = host
        self.ws_ping_interval = ws_ping_interval  # WebSocket keepalive pings (None: none, as before)
        self.api_key = api_key or generate_key()
        # Recordings are read first: a bad one is refused (RecordingError) before anything binds.
        self.replays = load_replays(replay)
        self.emulator = Emulator(self.api_key, config, self.replays)
        self.prefix = prefix
        self.log_level = log_level
        # Bind and listen before announcing the address: early clients queue in the backlog.
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit this: without it a response's headers and body, written
        # separately, wait out the client's delayed ACK (~40 ms per REST call on Linux).
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.socket.bind((host, port))
        self.socket.listen(512)
        self.port = self.socket.getsockname()[1]
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def state(self):
        return self.emulator.state

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}{self.prefix}"

    def _uvicorn(self) -> uvicorn.Server:
        config = uvicorn.Config(
            self.emulator.asgi(),
            log_level=self.log_level,
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
            ws="websockets-sansio",
            ws_ping_interval=self.ws_ping_interval,
        )
        _quiet_denials()  # after uvicorn.Config, which (re)configures its loggers
        self._server = uvicorn.Server(config)
        return self._server

    def serve_forever(self) -> None:
        try:
            self._uvicorn().run(sockets=[self.socket])
        finally:
            self.state.files.cleanup()

    def start(self) -> "EmulatorServer":
        server = self._uvicorn()
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [self.socket]}, daemon=True, name="atai-emulator")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.state.files.cleanup()

    def __enter__(self) -> "EmulatorServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
