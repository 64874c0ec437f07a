"""What every resource's routes share: the emulator's state, its session events, bearer auth,
lookups that answer 404, and the session endpoint a record names. The route modules take one of
these; the app (asgi.py) builds one and mounts their routes, so no route module needs the app."""

from __future__ import annotations

import copy
import secrets
from typing import TYPE_CHECKING, Any, Sequence

from starlette.requests import Request
from starlette.responses import Response

from atai_cli.emulator.memory import EmulatorState, Session
from atai_cli.emulator.replies import BadRequest, bearer, errors
from atai_cli.emulator.session_events import SessionEvents
from atai_cli.emulator.tuning import EmulatorConfig
from atai_cli.protocol.messages import unknown_session

if TYPE_CHECKING:
    from atai_cli.emulator.replay import Replay


class EmulatorContext:
    """The state, and what every resource's routes share: auth, lookups, endpoints."""

    def __init__(self, api_key: str, config: EmulatorConfig | None = None, replays: Sequence[Replay] = ()) -> None:
        self.state = EmulatorState(api_key, config or EmulatorConfig())
        self.events = SessionEvents(self.state)
        for replay in replays:  # one built-in lens per recording (replay.py)
            self.state.lenses[replay.lens_id] = copy.deepcopy(replay.lens)
            self.state.replays[replay.lens_id] = replay

    def check_auth(self, request: Request) -> None:
        key = bearer(request.headers)
        if key is None:
            raise BadRequest(errors(401, "missing_api_key", "Missing Authorization: Bearer <API_KEY> header"))
        if not secrets.compare_digest(key, self.state.api_key):
            raise BadRequest(errors(401, "invalid_api_key", "Invalid API key"))

    def route(self, handler):
        """Wrap a handler with auth and the BadRequest shortcut."""

        async def endpoint(request: Request) -> Response:
            try:
                self.check_auth(request)
                return await handler(request)
            except BadRequest as exc:
                return exc.response

        return endpoint

    def session_endpoint(self, scope, session_id: str) -> str:
        """ws(s)://<the request's own host and prefix>/lens/sessions/<id> (lens-api.md 7.23)."""
        host = dict(scope["headers"]).get(b"host", b"127.0.0.1").decode()
        scheme = "wss" if scope.get("scheme") in ("https", "wss") else "ws"
        return f"{scheme}://{host}{scope.get('root_path', '')}/lens/sessions/{session_id}"

    def session_or_404(self, session_id: Any) -> Session:
        session = self.state.sessions.get(str(session_id or ""))
        if session is None:
            raise BadRequest(errors(404, "session_not_found", unknown_session(session_id)))
        return session

    def lens_or_404(self, lens_id: Any) -> dict:
        lens = self.state.lenses.get(str(lens_id or ""))
        if lens is None:
            raise BadRequest(errors(404, "lens_not_found", f"Unknown lens id: {lens_id}"))
        return lens
