"""Shared fixtures: one emulator on a free loopback port for the whole run, reset per test,
and helpers that run the real CLI against it (in-process or as a subprocess)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import io

import httpx
import pytest

from atai_cli.client.api import LensApi
from atai_cli.environment import Environment
from atai_cli.main import main
from atai_cli.emulator.tuning import EmulatorConfig
from atai_cli.emulator.server import EmulatorServer


def _children_start_with_the_default_sigint() -> None:
    """A process started with SIGINT ignored (a background job, some CI runners, an xdist
    worker) passes that on to every child, and a Python child that ignores SIGINT never raises
    KeyboardInterrupt: the Ctrl-C tests would then pass or fail by where the suite runs. A
    handler that does nothing keeps this process ignoring Ctrl-C as it did, while its children
    (a handler does not survive exec) start with the default, as from a terminal."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, lambda signum, frame: None)


_children_start_with_the_default_sigint()

# Fast timings so slow scenarios (heartbeats, idle ends, start-up) take milliseconds.
FAST = dict(heartbeat_s=0.2, idle_timeout_s=30.0, start_delay_s=0.05, output_interval_s=0.01, query_timeout_s=2.0,
            model_latency_s=0.0)
SAMPLE_CSV = Path(__file__).resolve().parents[1] / "atai_cli" / "data" / "sample.csv"


def wait_until(predicate, timeout: float = 10.0, failure: str = "condition not met in time") -> None:
    """Poll until predicate() is true: tests wait on conditions, never on the clock."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(failure)
        time.sleep(0.01)


def read_until(stream, needle: str, timeout: float = 30.0) -> str:
    """What a child's stream (its stderr, say) said up to and including the line with needle."""
    seen = ""
    deadline = time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen += line
    assert needle in seen, seen
    return seen


class Emu:
    """The running emulator plus helpers for tests."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.endpoint = server.endpoint
        self.api_key = server.api_key
        self.admin = httpx.Client(base_url=f"http://127.0.0.1:{server.port}", headers={"Authorization": f"Bearer {server.api_key}"})

    def configure(self, **values) -> dict:
        response = self.admin.post("/_emulator/config", json=values)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self.admin.post("/_emulator/reset").raise_for_status()

    def api(self, **kwargs) -> LensApi:
        kwargs.setdefault("retry_delay", 0.01)
        kwargs.setdefault("reconnect_delay", 0.01)
        return LensApi.connect(self.endpoint, self.api_key, **kwargs)

    def session(self, session_id: str):
        return self.server.state.sessions[session_id]

    def wait_for_reader(self, session_id: str, timeout: float = 10.0) -> None:
        """Block until an SSE reader is connected to the session (outputs are live-only)."""
        wait_until(lambda: self.session(session_id).readers, timeout, "no SSE reader connected")

    def wait_for(self, predicate, timeout: float = 10.0) -> None:
        wait_until(predicate, timeout)

    def running_session(self, lens_id: str) -> str:
        with self.api() as api:
            session_id = api.create_session(lens_id)["session_id"]
            api.wait_running(session_id, 10)
        return session_id

    def push(self, session_id: str, values) -> None:
        """One lens output per value, in order, whose channel_means[0] is the value: a sequence
        the test controls (the delivery tests count events by it)."""
        with self.api() as api:
            for value in values:
                api.session_event(session_id, "session.update", {"type": "data.json", "event_data": {"sensor_data": [[value]]}})

    def upload(self, name: str, content: bytes) -> str:
        response = self.admin.post("/v0.5/files", files={"file": (name, content, "text/csv")})
        response.raise_for_status()
        return response.json()["file_id"]

    def destroy_later(self, session_id: str, *, wait_reader: bool = False, wait_connected: bool = False,
                      delay: float = 0.0) -> threading.Thread:
        """Destroy the session from another thread, once an SSE reader listens (wait_reader) or
        any client is connected (wait_connected), and/or after a delay."""

        def run() -> None:
            if wait_reader:
                self.wait_for_reader(session_id)
            if wait_connected:
                self.wait_for(lambda: self.session(session_id).num_active_connections > 0)
            time.sleep(delay)
            with self.api() as api:
                api.destroy_session(session_id)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def set_input_later(self, session_id: str, event: dict, *, wait_reader: bool = True) -> threading.Thread:
        """Set the input stream from another thread once the tail is listening."""

        def run() -> None:
            if wait_reader:
                self.wait_for_reader(session_id)
            with self.api() as api:
                api.session_event(session_id, "input_stream.set", event)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread


@pytest.fixture(scope="session")
def emu_server():
    server = EmulatorServer(config=EmulatorConfig(**FAST)).start()
    yield server
    server.stop()


@pytest.fixture
def emu(emu_server, tmp_path, monkeypatch) -> Emu:
    helper = Emu(emu_server)
    helper.reset()
    monkeypatch.setenv("ATAI_API_ENDPOINT", helper.endpoint)
    monkeypatch.setenv("ATAI_API_KEY", helper.api_key)
    monkeypatch.setenv("ATAI_RETRY_DELAY", "0.01")
    monkeypatch.setenv("ATAI_RECONNECT_DELAY", "0.01")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("ATAI_PROFILE", raising=False)
    yield helper
    helper.admin.close()


@pytest.fixture
def http(emu):
    """A plain HTTP client on the emulator's API, for the tests that speak the protocol itself."""
    with httpx.Client(base_url=emu.endpoint + "/", headers={"Authorization": f"Bearer {emu.api_key}"}) as client:
        yield client


def event(http, session_id, type_, data=None) -> dict:
    """One session event over REST (POST /lens/sessions/events/process)."""
    body = {"session_id": session_id, "event": {"type": type_, **({"event_data": data} if data is not None else {})}}
    return http.post("lens/sessions/events/process", json=body).json()


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stdout.splitlines() if line]


def run_cli(*args: str, input: str | None = None, tty: bool = False, env: dict | None = None,
            stderr: io.StringIO | None = None) -> Result:
    """Run atai in-process through main(argv, env), with its own streams and variables. A test
    that runs it in a thread passes its own stderr to wait on what it says meanwhile."""
    stdout, stderr = io.StringIO(), stderr if stderr is not None else io.StringIO()
    environ = {**os.environ, **(env or {})}
    environment = Environment(stdin=io.StringIO(input or ""), stdout=stdout, stderr=stderr, environ=environ,
                              stdin_isatty=tty, stdout_isatty=tty, stderr_isatty=tty)
    code = main(list(args), environment)
    return Result(code, stdout.getvalue(), stderr.getvalue())


@pytest.fixture
def cli():
    """Run atai in-process, like a user would, with stdout and stderr kept apart."""
    return run_cli


def saved_cursors(path: Path) -> dict:
    """What a --cursor-file holds now ({} before the first save; saves are atomic renames)."""
    import json

    return json.loads(path.read_text()) if path.exists() else {}


def subprocess_env(emu: Emu, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATAI_")}
    env.update(ATAI_API_ENDPOINT=emu.endpoint, ATAI_API_KEY=emu.api_key, ATAI_RETRY_DELAY="0.01",
               ATAI_RECONNECT_DELAY="0.01", PYTHONUNBUFFERED="1", **extra)
    return env


def atai_process(emu: Emu, *args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "atai_cli", *args], env=subprocess_env(emu, XDG_CONFIG_HOME=os.environ["XDG_CONFIG_HOME"]),
        stdout=popen.pop("stdout", subprocess.PIPE), stderr=popen.pop("stderr", subprocess.PIPE), text=True, **popen,
    )
