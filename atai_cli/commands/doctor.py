"""atai doctor: check the endpoint, the key, the WebSocket and SSE paths, and say what to fix."""

from __future__ import annotations

import time

import typer

from atai_cli.commands.options import JsonOpt, app_state
from atai_cli.errors import NO_KEY_HINT, AtaiError


def doctor(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """Check the endpoint, the key, and the WebSocket and SSE paths, and say what to fix."""
    state = app_state(ctx)
    checks: list[dict] = []

    def check(name: str, action, fix: str) -> bool:
        started = time.monotonic()
        try:
            detail = action() or "ok"
        except AtaiError as exc:
            checks.append({"check": name, "ok": False, "detail": exc.message, "fix": exc.hint or fix})
            return False
        checks.append({"check": name, "ok": True, "detail": detail, "ms": round((time.monotonic() - started) * 1000)})
        return True

    settings = state.settings
    checks.append({"check": "endpoint", "ok": True, "detail": settings.api_endpoint})
    if settings.api_key is None:
        checks.append({"check": "api key", "ok": False, "detail": "no key configured",
                       "fix": NO_KEY_HINT})
    else:
        api = state.api(timeout=min(settings.timeout, 10), max_retries=1, retry_delay=0.2)
        if check("api key accepted", lambda: f"{len(api.list_lenses())} lenses visible", "check the endpoint and the key (ATAI_API_KEY, --api-key, or `atai login`)"):
            from atai_cli.client.probes import probe_sse, probe_websocket

            check("websocket path", lambda: probe_websocket(api), "a proxy may block WebSocket upgrades; try another network")
            check("sse path", lambda: probe_sse(api), "a proxy may buffer or block text/event-stream")
    state.out.checklist(checks)
    failed = [c for c in checks if not c["ok"]]
    if failed:
        raise AtaiError(f"{len(failed)} check(s) failed: {', '.join(c['check'] for c in failed)}")
