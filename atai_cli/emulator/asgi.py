"""The emulator's ASGI app: bearer auth, the routes of each resource under /v0.5, /api and /
(the SDK appends to any base), fault injection, and the admin API under /_emulator."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount

from atai_cli.emulator import admin_routes, file_routes, lens_routes, session_routes, socket_route
from atai_cli.emulator.context import EmulatorContext
from atai_cli.emulator.faults import FaultMiddleware

PREFIXES = ("/v0.5", "/api")


class Emulator(EmulatorContext):
    """The shared context with every resource's routes mounted on it."""

    def api_routes(self) -> list:
        return [
            *lens_routes.routes(self),
            *session_routes.routes(self),
            *socket_route.routes(self),
            *file_routes.routes(self),
        ]

    def asgi(self):
        routes = [
            *admin_routes.routes(self),
            *[Mount(prefix, routes=self.api_routes()) for prefix in PREFIXES],
            *self.api_routes(),
        ]
        return FaultMiddleware(Starlette(routes=routes), self.state.config)
