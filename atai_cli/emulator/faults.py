"""Fault injection for REST and SSE requests: delays, injected statuses (never the admin API)."""

from __future__ import annotations

import random

from starlette.responses import JSONResponse, Response

from atai_cli.emulator.tuning import EmulatorConfig


class FaultMiddleware:
    def __init__(self, app, config: EmulatorConfig, rng: random.Random | None = None) -> None:
        self.app = app
        self.config = config
        self.rng = rng or random.Random()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/_emulator"):
            config = self.config
            if config.fail_path and config.fail_path not in scope["path"]:
                await self.app(scope, receive, send)
                return
            if config.delay_s > 0:
                import asyncio

                await asyncio.sleep(config.delay_s)
            if self._should_fail():
                await self._failure()(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _should_fail(self) -> bool:
        config = self.config
        if config.fail_count > 0:
            config.fail_count -= 1
            return True
        return config.fail_rate > 0 and self.rng.random() < config.fail_rate

    def _failure(self) -> Response:
        config = self.config
        if config.fail_status == 204:
            return Response(status_code=204)
        if 300 <= config.fail_status < 400:
            return Response(status_code=config.fail_status, headers={"Location": config.redirect_location})
        headers = {"Retry-After": f"{config.retry_after:g}"} if config.retry_after >= 0 else None
        body = {"errors": [{"code": "injected_failure", "message": "Injected failure (atai emulator)"}]}
        return JSONResponse(body, status_code=config.fail_status, headers=headers)
