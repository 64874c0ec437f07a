"""The session WebSocket (`session_endpoint`): one reply per event, no unsolicited frames."""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from atai_cli.emulator.replies import bearer, errors
from atai_cli.protocol.messages import unknown_session

if TYPE_CHECKING:
    from atai_cli.emulator.context import EmulatorContext

SUBPROTOCOL_AUTH = ("authorization.bearer.", "authenticationauthorization.bearer.")


def routes(emu: "EmulatorContext") -> list[WebSocketRoute]:
    state = emu.state

    async def session_socket(websocket: WebSocket) -> None:
        offered = list(websocket.scope.get("subprotocols") or [])
        key = bearer(websocket.headers)
        for proto in offered:  # browsers cannot set headers (lens-api.md 7.3)
            for prefix in SUBPROTOCOL_AUTH:
                if proto.startswith(prefix):
                    key = proto[len(prefix):]
        if key is None or not secrets.compare_digest(key, state.api_key):
            await _deny(websocket, errors(401, "invalid_api_key", "Invalid API key"))
            return
        session_id = websocket.path_params["session_id"]
        session = state.sessions.get(session_id)
        if session is None:
            await _deny(websocket, errors(404, "session_not_found", unknown_session(session_id)))
            return
        await websocket.accept(subprotocol="event-protocol-v1" if "event-protocol-v1" in offered else None)
        session.num_active_connections += 1
        endpoint = emu.session_endpoint(websocket.scope, session_id)
        replies = batches = 0
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    text = (message.get("bytes") or b"").decode("utf-8", "replace")
                event = None
                try:
                    event = json.loads(text)
                except ValueError:
                    reply = {"type": "error", "message": "Invalid event: not JSON"}
                else:
                    reply = await emu.events.handle(session_id, event, key, endpoint)
                silent = {t.strip() for t in state.config.ws_silent_types.split(",") if t.strip()}
                if isinstance(event, dict) and event.get("type") in silent:
                    continue  # fault: this request never gets an answer
                if _hands_over_messages(reply):
                    batches += 1
                    lose_every = state.config.ws_lose_batch_every
                    if lose_every and batches % lose_every == 0:
                        await websocket.close(code=1011, reason="injected lost reply (atai emulator)")
                        break
                for n in range(state.config.ws_noise):
                    await websocket.send_text("<html>not json</html>" if n % 2 == 0 else '{"type":"log.info","data":"noise"}')
                await websocket.send_text(json.dumps(reply))
                replies += 1
                drop_every = state.config.ws_drop_every
                if drop_every and replies % drop_every == 0:
                    await websocket.close(code=1011, reason="injected drop (atai emulator)")
                    break
        except WebSocketDisconnect:
            pass
        finally:
            session.num_active_connections -= 1

    return [WebSocketRoute("/lens/sessions/{session_id}", session_socket)]


def _hands_over_messages(reply: dict) -> bool:
    body = reply.get("event_data") if reply.get("type") == "session.read.response" else None
    return isinstance(body, dict) and bool(body.get("messages"))


async def _deny(websocket: WebSocket, response: Response) -> None:
    try:
        await websocket.send_denial_response(response)
    except RuntimeError:  # server without the denial-response extension
        await websocket.close(code=1008)
