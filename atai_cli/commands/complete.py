"""Shell completion of live lens and session ids.

Completion runs on every Tab press, so it must be quick and silent: a 2 s budget, no retries,
and any failure (no key, server down, bad config) completes nothing rather than printing
into the user's shell.
"""

from __future__ import annotations

import typer


def _candidates(ctx: typer.Context, kind: str, incomplete: str) -> list[str]:
    try:
        from atai_cli.state import AppState

        # During completion the root callback has not run: read the global flags directly.
        params = ctx.find_root().params
        state = AppState()
        state.endpoint, state.api_key, state.profile = params.get("endpoint"), params.get("api_key"), params.get("profile")
        if state.settings.api_key is None:
            return []
        with state.api(timeout=2.0, max_retries=0) as api:
            items = api.list_sessions() if kind == "session" else api.list_lenses()
        ids = [str(item.get(f"{kind}_id")) for item in items if item.get(f"{kind}_id")]
        return [i for i in ids if i.startswith(incomplete)]
    except BaseException:  # noqa: BLE001 - never disturb the shell
        return []


def session_ids(ctx: typer.Context, incomplete: str) -> list[str]:
    return _candidates(ctx, "session", incomplete)


def lens_ids(ctx: typer.Context, incomplete: str) -> list[str]:
    return _candidates(ctx, "lens", incomplete)
