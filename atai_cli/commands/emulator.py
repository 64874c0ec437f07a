"""atai emulator: run the local Lens API."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated

import typer

from atai_cli.commands.options import finite
from atai_cli.emulator.catalog import DESCRIPTIONS


def _lenses_help() -> str:
    return "\n\n".join(f"{lens_id}: {text}" for lens_id, text in DESCRIPTIONS.items())


def emulator(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", metavar="HOST", help="Interface to bind (loopback only by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", metavar="PORT", min=0, max=65535, help="Port; 0 takes any free port.")] = 8765,
    api_key: Annotated[str | None, typer.Option("--api-key", metavar="KEY", help="The key clients must send (default: a generated one).")] = None,
    prefix: Annotated[str, typer.Option("--prefix", metavar="PATH", help="Path prefix announced in ATAI_API_ENDPOINT (/api and / also work).")] = "/v0.5",
    heartbeat: Annotated[float, typer.Option("--heartbeat", metavar="S", help="sse.stream.heartbeat period while idle.")] = 5.0,
    idle_timeout: Annotated[float, typer.Option("--idle-timeout", metavar="S", help="sse.stream.end after S idle seconds (0 = never).")] = 60.0,
    start_delay: Annotated[float, typer.Option("--start-delay", metavar="S", help="REGISTERED -> RUNNING delay.")] = 0.2,
    output_interval: Annotated[float, typer.Option("--output-interval", metavar="S", help="Pacing of file and camera results.")] = 0.2,
    retention: Annotated[int, typer.Option("--retention", metavar="N", help="Output events kept per session for Last-Event-ID replay.")] = 1000,
    query_delay: Annotated[float, typer.Option("--query-delay", metavar="S", help="How long model.query takes.")] = 0.0,
    query_timeout: Annotated[float, typer.Option("--query-timeout", metavar="S", help="model.query gives up after S (real API ~60).")] = 60.0,
    model_latency: Annotated[float, typer.Option("--model-latency", metavar="S", min=0, help="Each inference takes S seconds, one at a time per session (0 = instant).")] = 0.5,
    live_only: Annotated[bool, typer.Option("--live-only", help="Every SSE reader without Last-Event-ID starts live, even a session's first.")] = False,
    drop_every: Annotated[int, typer.Option("--drop-every", metavar="N", help="Fault: close SSE connections every N events.")] = 0,
    silence_after: Annotated[int, typer.Option("--silence-after", metavar="N", help="Fault: the first SSE connection goes silent after N events.")] = 0,
    fail_rate: Annotated[float, typer.Option("--fail-rate", metavar="P", help="Fault: answer this share of requests with --fail-status.")] = 0.0,
    fail_status: Annotated[int, typer.Option("--fail-status", metavar="CODE", help="Fault: the status injected failures use (503, 429...).")] = 503,
    delay: Annotated[float, typer.Option("--delay", metavar="S", help="Fault: delay every REST response.")] = 0.0,
    sse_retry_ms: Annotated[int, typer.Option("--sse-retry-ms", metavar="MS", help="Send `retry:` with sse.stream.start (-1 = never, like the real API).")] = -1,
    replay: Annotated[list[Path] | None, typer.Option("--replay", metavar="FILE", help="Serve a recording (atai tail --record) as the lens lns-replay-<file name>: each session on it replays the recorded events (repeatable).")] = None,
    replay_speed: Annotated[float, typer.Option("--replay-speed", metavar="X", min=0, help="Replays wait the recorded gaps divided by X (0 = no gaps).")] = 1.0,
    ws_ping: Annotated[float | None, typer.Option("--ws-ping", metavar="S", min=0.01, callback=finite,
                                                  help="Send WebSocket keepalive pings every S seconds (default: none).")] = None,
    log_level: Annotated[str, typer.Option("--log-level", metavar="LEVEL", help="uvicorn log level.")] = "warning",
) -> None:
    """Run a local Lens API (REST, WebSocket and SSE on one port) for offline use and tests.

    Prints ATAI_API_ENDPOINT=... and ATAI_API_KEY=... on stdout before serving, so
    `eval "$(atai emulator --port 0 | head -n 2)"` style scripts can pick them up.
    Timings and faults can also be changed at run time: POST /_emulator/config.
    With --replay FILE, each session of lns-replay-<name> replays that recording's events on
    the recorded channel, with the recorded SSE ids, through the same faults.
    """
    from atai_cli.emulator.tuning import EmulatorConfig

    try:
        from atai_cli.emulator.server import EmulatorServer
    except ImportError as exc:
        from atai_cli.errors import UsageError

        raise UsageError(
            f"the emulator needs packages that are not installed ({exc.name})",
            hint="install them with: pip install 'atai-cli[emulator]'",
        ) from exc

    config = EmulatorConfig(
        heartbeat_s=heartbeat, idle_timeout_s=idle_timeout, start_delay_s=start_delay,
        output_interval_s=output_interval, retention=retention, query_delay_s=query_delay,
            query_timeout_s=query_timeout, model_latency_s=model_latency, live_only=live_only, drop_every=drop_every,
        silence_after=silence_after, fail_rate=fail_rate, fail_status=fail_status, delay_s=delay,
        sse_retry_ms=sse_retry_ms, replay_speed=replay_speed,
    )
    from atai_cli.emulator.replay import load

    replays = load(replay or [])  # a file that is not a recording is exit 2 (file:line), before anything binds
    try:
        server = EmulatorServer(host=host, port=port, api_key=api_key, config=config, prefix=prefix, log_level=log_level,
                                replay=replays, ws_ping_interval=ws_ping)
    except OSError as exc:
        from atai_cli.errors import UsageError

        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", hint="pick another --port, or --port 0") from exc
    from atai_cli.commands.options import app_state

    out = app_state(ctx).out
    out.text(f"ATAI_API_ENDPOINT={server.endpoint}\nATAI_API_KEY={server.api_key}")
    out.info(f"atai emulator listening on {server.endpoint} (Ctrl-C to stop)")
    for each in replays:
        out.info(f"replaying {each.describe()}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


emulator.__doc__ = inspect.cleandoc(emulator.__doc__ or "") + "\n\nBuilt-in lenses:\n\n" + _lenses_help()
