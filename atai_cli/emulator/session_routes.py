"""/lens/sessions/*: create, destroy, metadata, info, events/process and the SSE consumer."""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from atai_cli.emulator import sse_stream
from atai_cli.emulator.background import start_task
from atai_cli.emulator.inference import Inference
from atai_cli.emulator.replay import Player
from atai_cli.emulator.replies import bearer, errors, json_body, shard
from atai_cli.emulator.runner import start_runner
from atai_cli.emulator.session_events import destroy_session
from atai_cli.emulator.memory import Session, new_session_id

if TYPE_CHECKING:
    from atai_cli.emulator.context import EmulatorContext


def routes(emu: "EmulatorContext") -> list[Route]:
    state = emu.state

    async def create(request: Request) -> Response:
        body = await json_body(request)
        lens = emu.lens_or_404(body.get("lens_id"))
        session = Session(
            session_id=new_session_id(),
            lens=lens,
            lens_config=copy.deepcopy(lens["lens_config"]),
            retention=state.config.retention,
        )
        session.model = Inference(session, state.config)
        replay = state.replays.get(lens["lens_id"])
        if replay is not None:
            session.player = Player(state, session, replay)
        state.sessions[session.session_id] = session
        start_task(session, start_runner(state, session), "runner")  # destroy cancels it
        return JSONResponse(session.record(bearer(request.headers) or "", emu.session_endpoint(request.scope, session.session_id)))

    async def destroy(request: Request) -> Response:
        body = await json_body(request)
        session = emu.session_or_404(body.get("session_id"))
        destroy_session(session)
        return JSONResponse({
            **session.summary(emu.session_endpoint(request.scope, session.session_id)),
            "session_runner": "lens_service:runner:atai-emulator",
        })

    async def metadata(request: Request) -> Response:
        wanted = request.query_params.get("session_id", "")
        sessions = [
            s.summary(emu.session_endpoint(request.scope, s.session_id))
            for s in state.sessions.values()
            if ((s.session_id == wanted) if wanted else not s.destroyed)
        ]
        return JSONResponse(shard(sessions, request))

    async def info(request: Request) -> Response:
        sessions = state.sessions.values()
        return JSONResponse({
            "num_sessions": len(sessions),
            "num_active_sessions": sum(1 for s in sessions if not s.destroyed),
            "last_updated": time.time(),
        })

    async def process_event(request: Request) -> Response:
        body = await json_body(request)
        session = emu.session_or_404(body.get("session_id"))
        reply = await emu.events.handle(
            session.session_id, body.get("event"), bearer(request.headers) or "",
            emu.session_endpoint(request.scope, session.session_id),
        )
        return JSONResponse(reply)

    async def consumer(request: Request) -> Response:
        session = emu.session_or_404(request.path_params["session_id"])
        if session.destroyed:
            return errors(404, "session_not_found", f"Session {session.session_id} was destroyed")
        cursor = sse_stream.start_cursor(session, request.headers.get("last-event-id"), state.config.live_only)
        if state.config.ignore_last_event_id and request.headers.get("last-event-id"):
            cursor = 0
        session.ever_read = True
        if session.player is not None:
            session.player.consumer(cursor)  # a replay starts with its first consumer
        return StreamingResponse(
            sse_stream.stream(state, session, cursor),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    r = emu.route
    return [
        Route("/lens/sessions/create", r(create), methods=["POST"]),
        Route("/lens/sessions/destroy", r(destroy), methods=["POST"]),
        Route("/lens/sessions/metadata", r(metadata)),
        Route("/lens/sessions/info", r(info)),
        Route("/lens/sessions/events/process", r(process_event), methods=["POST"]),
        Route("/lens/sessions/consumer/{session_id}", r(consumer)),
    ]
