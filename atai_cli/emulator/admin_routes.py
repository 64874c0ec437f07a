"""/_emulator/*: change timings and faults at run time, reset between tests, peek at a session."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from atai_cli.emulator.replies import errors, json_body
from atai_cli.emulator.session_events import destroy_session

if TYPE_CHECKING:
    from atai_cli.emulator.context import EmulatorContext


def routes(emu: "EmulatorContext") -> list[Route]:
    state = emu.state

    async def config(request: Request) -> Response:
        if request.method == "POST":
            try:
                unknown = state.config.update(await json_body(request))
            except ValueError as exc:  # a value of the wrong type
                return errors(400, "invalid_setting", f"Invalid emulator settings: {exc}")
            if unknown:
                return errors(400, "unknown_setting", f"Unknown emulator settings: {', '.join(unknown)}")
        return JSONResponse(state.config.as_dict())

    async def session(request: Request) -> Response:
        found = emu.session_or_404(request.path_params["session_id"])
        return JSONResponse({
            "session_id": found.session_id, "status": found.status, "sse_readers": len(found.readers),
            "num_outputs": found.num_outputs, "mailbox_size": len(found.mail), "last_event_id": found.outputs.last_id,
        })

    async def reset(request: Request) -> Response:
        """Back to the start-up config, with every session destroyed (test isolation)."""
        for each in state.sessions.values():
            destroy_session(each)
        state.reset()
        return JSONResponse(state.config.as_dict())

    r = emu.route
    return [
        Route("/_emulator/config", r(config), methods=["GET", "POST"]),
        Route("/_emulator/reset", r(reset), methods=["POST"]),
        Route("/_emulator/sessions/{session_id}", r(session)),
    ]
