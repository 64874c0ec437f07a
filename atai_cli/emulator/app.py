"""The emulator's ASGI app: routes under /v0.5, /api and / (the SDK appends to any base),
bearer auth, fault injection, and an admin API under /_emulator for tests."""

from __future__ import annotations

import asyncio
import json
import random
import re
import secrets
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from atai_cli.emulator import sse
from atai_cli.emulator.config import EmulatorConfig
from atai_cli.emulator.events import SessionEvents, destroy_session
from atai_cli.emulator.state import EmulatorState, Session, new_session_id
from atai_cli.protocol import status as st
from atai_cli.protocol.messages import unknown_session

PREFIXES = ("/v0.5", "/api")
MAX_UPLOAD = 512 * 1024 * 1024


def errors(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    body = {"errors": [{"code": code, "message": message, "error_uid": f"err-{secrets.token_hex(8)}"}], **extra}
    return JSONResponse(body, status_code=status)


class BadRequest(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def bearer(headers) -> str | None:
    value = headers.get("authorization", "")
    return value[7:].strip() if value[:7].lower() == "bearer " else None


class Emulator:
    """Holds the state and builds the route handlers around it."""

    def __init__(self, api_key: str, config: EmulatorConfig | None = None) -> None:
        self.state = EmulatorState(api_key, config or EmulatorConfig())
        self.events = SessionEvents(self.state)
        self.rng = random.Random()

    # -- plumbing -----------------------------------------------------------------------
    def check_auth(self, request: Request) -> None:
        key = bearer(request.headers)
        if key is None:
            raise BadRequest(errors(401, "missing_api_key", "Missing Authorization: Bearer <API_KEY> header"))
        if not secrets.compare_digest(key, self.state.api_key):
            raise BadRequest(errors(401, "invalid_api_key", "Invalid API key"))

    async def json_body(self, request: Request) -> dict:
        raw = await request.body()
        try:
            body = json.loads(raw or b"{}")  # the SDK sends JSON with no Content-Type
        except ValueError:
            raise BadRequest(errors(400, "invalid_json", "The request body is not valid JSON"))
        if not isinstance(body, dict):
            raise BadRequest(errors(400, "invalid_json", "The request body must be a JSON object"))
        return body

    def session_endpoint(self, scope, session_id: str) -> str:
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

    def route(self, handler):
        async def endpoint(request: Request) -> Response:
            try:
                self.check_auth(request)
                return await handler(request)
            except BadRequest as exc:
                return exc.response

        return endpoint

    # -- lenses -------------------------------------------------------------------------
    async def lens_metadata(self, request: Request) -> Response:
        lens_id = request.query_params.get("lens_id", "")
        lenses = [l for l in self.state.lenses.values() if not lens_id or l["lens_id"] == lens_id]
        return JSONResponse(_shard(lenses, request))

    async def lens_info(self, request: Request) -> Response:
        lenses = self.state.lenses.values()
        return JSONResponse({
            "num_lenses": len(lenses),
            "num_registered_lenses": sum(1 for l in lenses if l["lens_modifiable"]),
            "last_updated": time.time(),
        })

    async def lens_register(self, request: Request) -> Response:
        body = await self.json_body(request)
        config = body.get("lens_config")
        if not isinstance(config, dict):
            return JSONResponse({"is_valid": False, "error_messages": ["lens_config (an object) is required"],
                                 "errors": [{"code": "missing_parameter", "message": "lens_config is required"}]}, 400)
        name = str(config.get("lens_name") or "Untitled lens")
        # Both nestings occur: {lens_name, lens_config:{...}} (SDK, demos) and {lens_name, ...} (docs).
        inner = config.get("lens_config") if isinstance(config.get("lens_config"), dict) else {
            k: v for k, v in config.items() if k not in ("lens_name", "lens_id")
        }
        inner = dict(inner)
        pipeline = inner.get("model_pipeline") or [{"processor_name": "lens_noop_processor"}]
        inner["model_pipeline"] = [{"processor_config": {}, **step} for step in pipeline if isinstance(step, dict)]
        return JSONResponse(self.add_lens(name, inner))

    def add_lens(self, name: str, config: dict, id_suffix: str = "") -> dict:
        """A new, modifiable lens with a registered-style id: lns-<slug>-<8 hex>."""
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:24] or "lens"
        lens = {
            "lens_id": f"lns-{slug}{id_suffix}-{secrets.token_hex(4)}",
            "lens_name": name,
            "lens_status": "LENS_STATUS_REGISTERED",
            "lens_modifiable": True,
            "lens_config": config,
        }
        self.state.lenses[lens["lens_id"]] = lens
        return lens

    async def lens_clone(self, request: Request) -> Response:
        body = await self.json_body(request)
        source = self.lens_or_404(body.get("lens_id"))
        config = json.loads(json.dumps(source["lens_config"]))
        config["origin_lens_id"] = source["lens_id"]
        return JSONResponse(self.add_lens(f"{source['lens_name']} (clone)", config))

    async def lens_modify(self, request: Request) -> Response:
        body = await self.json_body(request)
        lens = self.lens_or_404(body.pop("lens_id", None))
        if not lens["lens_modifiable"]:
            return errors(409, "lens_not_modifiable", f"Lens {lens['lens_id']} is built in and cannot be modified")
        if "lens_name" in body:
            lens["lens_name"] = str(body.pop("lens_name"))
        changes = body.pop("lens_config", None)
        if isinstance(changes, dict):
            lens["lens_config"].update(changes)
        if body:
            lens["lens_config"].setdefault("model_parameters", {}).update(body)
        return JSONResponse(lens)

    async def lens_delete(self, request: Request) -> Response:
        body = await self.json_body(request)
        lens = self.lens_or_404(body.get("lens_id"))
        if not lens["lens_modifiable"]:
            return errors(409, "lens_not_modifiable", f"Lens {lens['lens_id']} is built in and cannot be deleted")
        del self.state.lenses[lens["lens_id"]]
        return JSONResponse({"is_valid": True, "lens_id": lens["lens_id"], "errors": []})

    # -- sessions -----------------------------------------------------------------------
    async def session_create(self, request: Request) -> Response:
        body = await self.json_body(request)
        lens = self.lens_or_404(body.get("lens_id"))
        session = Session(
            session_id=new_session_id(),
            lens=lens,
            lens_config=json.loads(json.dumps(lens["lens_config"])),
            retention=self.state.config.retention,
        )
        self.state.sessions[session.session_id] = session
        asyncio.get_running_loop().create_task(self._start_runner(session))
        return JSONResponse(session.record(bearer(request.headers) or "", self.session_endpoint(request.scope, session.session_id)))

    async def _start_runner(self, session: Session) -> None:
        await asyncio.sleep(self.state.config.start_delay_s)
        if session.destroyed:
            return
        if self.state.config.fail_sessions:
            session.status = st.FAILED
            session.errors = ["Failed to fetch session_runner!"]
        else:
            session.status = st.RUNNING
            session.session_start_timestamp = time.time()
            session.num_updates += 1
        session.touch()

    async def session_destroy(self, request: Request) -> Response:
        body = await self.json_body(request)
        session = self.session_or_404(body.get("session_id"))
        destroy_session(session)
        return JSONResponse({
            **session.summary(self.session_endpoint(request.scope, session.session_id)),
            "session_runner": "lens_service:runner:atai-emulator",
        })

    async def session_metadata(self, request: Request) -> Response:
        wanted = request.query_params.get("session_id", "")
        sessions = [
            s.summary(self.session_endpoint(request.scope, s.session_id))
            for s in self.state.sessions.values()
            if ((s.session_id == wanted) if wanted else not s.destroyed)
        ]
        return JSONResponse(_shard(sessions, request))

    async def session_info(self, request: Request) -> Response:
        sessions = self.state.sessions.values()
        return JSONResponse({
            "num_sessions": len(sessions),
            "num_active_sessions": sum(1 for s in sessions if not s.destroyed),
            "last_updated": time.time(),
        })

    async def process_event(self, request: Request) -> Response:
        body = await self.json_body(request)
        session = self.session_or_404(body.get("session_id"))
        reply = await self.events.handle(
            session.session_id, body.get("event"), bearer(request.headers) or "",
            self.session_endpoint(request.scope, session.session_id),
        )
        return JSONResponse(reply)

    async def consumer(self, request: Request) -> Response:
        session = self.session_or_404(request.path_params["session_id"])
        if session.destroyed:
            return errors(404, "session_not_found", f"Session {session.session_id} was destroyed")
        cursor = sse.start_cursor(session, request.headers.get("last-event-id"))
        if self.state.config.ignore_last_event_id and request.headers.get("last-event-id"):
            cursor = 0
        return StreamingResponse(
            sse.stream(self.state, session, cursor),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def session_socket(self, websocket: WebSocket) -> None:
        offered = list(websocket.scope.get("subprotocols") or [])
        key = bearer(websocket.headers)
        for proto in offered:  # browsers cannot set headers (lens-api.md 7.3)
            for prefix in ("authorization.bearer.", "authenticationauthorization.bearer."):
                if proto.startswith(prefix):
                    key = proto[len(prefix):]
        if key is None or not secrets.compare_digest(key, self.state.api_key):
            await _deny(websocket, errors(401, "invalid_api_key", "Invalid API key"))
            return
        session_id = websocket.path_params["session_id"]
        session = self.state.sessions.get(session_id)
        if session is None:
            await _deny(websocket, errors(404, "session_not_found", unknown_session(session_id)))
            return
        await websocket.accept(subprotocol="event-protocol-v1" if "event-protocol-v1" in offered else None)
        session.num_active_connections += 1
        endpoint = self.session_endpoint(websocket.scope, session_id)
        replies = 0
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    text = (message.get("bytes") or b"").decode("utf-8", "replace")
                try:
                    event = json.loads(text)
                except ValueError:
                    reply = {"type": "error", "message": "Invalid event: not JSON"}
                else:
                    reply = await self.events.handle(session_id, event, key, endpoint)
                for n in range(self.state.config.ws_noise):
                    await websocket.send_text("<html>not json</html>" if n % 2 == 0 else '{"type":"log.info","data":"noise"}')
                await websocket.send_text(json.dumps(reply))
                replies += 1
                drop_every = self.state.config.ws_drop_every
                if drop_every and replies % drop_every == 0:
                    await websocket.close(code=1011, reason="injected drop (atai emulator)")
                    break
        except WebSocketDisconnect:
            pass
        finally:
            session.num_active_connections -= 1

    # -- files --------------------------------------------------------------------------
    async def file_upload(self, request: Request) -> Response:
        form = await request.form(max_part_size=MAX_UPLOAD)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return errors(400, "missing_parameter", "multipart field 'file' is required")
        content = await upload.read()
        if len(content) > MAX_UPLOAD:
            return errors(413, "invalid_file_size", "Files are limited to 512 MB")
        record = self.state.files.put(upload.filename or "upload.bin", content, upload.content_type or "application/octet-stream")
        return JSONResponse({"is_valid": True, "file_id": record["file_id"], "file_uid": record["file_uid"]})

    async def file_metadata(self, request: Request) -> Response:
        records = sorted(self.state.files.records.values(), key=lambda r: -r["created_timestamp"])
        limit = int(request.query_params.get("limit") or 100)
        return JSONResponse({"data": records[:limit], "has_more": len(records) > limit, "next_cursor": None, "prev_cursor": None})

    async def file_one(self, request: Request) -> Response:
        record = self.state.files.records.get(request.path_params["file_id"])
        if record is None:
            return errors(404, "file_not_found", f"Unknown file id: {request.path_params['file_id']}")
        return JSONResponse(record)

    async def file_info(self, request: Request) -> Response:
        records = self.state.files.records.values()
        return JSONResponse({"num_files": len(records), "num_bytes": sum(r["num_bytes"] for r in records),
                             "num_ingested": len(records), "last_updated": time.time()})

    async def file_download(self, request: Request) -> Response:
        path = self.state.files.path(request.path_params["file_id"])
        if path is None:
            return errors(404, "file_not_found", f"Unknown file id: {request.path_params['file_id']}")
        return FileResponse(path, media_type="application/octet-stream")

    async def file_delete(self, request: Request) -> Response:
        record = self.state.files.delete(request.path_params["file_id"])
        if record is None:
            return errors(404, "file_not_found", f"Unknown file id: {request.path_params['file_id']}")
        return JSONResponse({"is_valid": True, "file_id": record["file_id"], "file_uid": record["file_uid"]})

    # -- admin (tests, fixtures) --------------------------------------------------------
    async def admin_config(self, request: Request) -> Response:
        if request.method == "POST":
            unknown = self.state.config.update(await self.json_body(request))
            if unknown:
                return errors(400, "unknown_setting", f"Unknown emulator settings: {', '.join(unknown)}")
        return JSONResponse(self.state.config.as_dict())

    async def admin_session(self, request: Request) -> Response:
        session = self.session_or_404(request.path_params["session_id"])
        return JSONResponse({
            "session_id": session.session_id, "status": session.status, "sse_readers": len(session.readers),
            "num_outputs": session.num_outputs, "mailbox_size": len(session.mail), "last_event_id": session.outputs.last_id,
        })

    async def admin_reset(self, request: Request) -> Response:
        """Back to the start-up config, with every session destroyed (test isolation)."""
        for session in self.state.sessions.values():
            destroy_session(session)
        self.state.reset()
        return JSONResponse(self.state.config.as_dict())

    # -- assembly -----------------------------------------------------------------------
    def api_routes(self) -> list:
        r = self.route
        return [
            Route("/lens/metadata", r(self.lens_metadata)),
            Route("/lens/info", r(self.lens_info)),
            Route("/lens/register", r(self.lens_register), methods=["POST"]),
            Route("/lens/clone", r(self.lens_clone), methods=["POST"]),
            Route("/lens/modify", r(self.lens_modify), methods=["POST"]),
            Route("/lens/delete", r(self.lens_delete), methods=["POST"]),
            Route("/lens/sessions/create", r(self.session_create), methods=["POST"]),
            Route("/lens/sessions/destroy", r(self.session_destroy), methods=["POST"]),
            Route("/lens/sessions/metadata", r(self.session_metadata)),
            Route("/lens/sessions/info", r(self.session_info)),
            Route("/lens/sessions/events/process", r(self.process_event), methods=["POST"]),
            Route("/lens/sessions/consumer/{session_id}", r(self.consumer)),
            WebSocketRoute("/lens/sessions/{session_id}", self.session_socket),
            Route("/files", r(self.file_upload), methods=["POST"]),
            Route("/files/info", r(self.file_info)),
            Route("/files/metadata", r(self.file_metadata)),
            Route("/files/metadata/{file_id:path}", r(self.file_one)),
            Route("/files/download/{file_id:path}", r(self.file_download)),
            Route("/files/delete/{file_id:path}", r(self.file_delete), methods=["DELETE"]),
        ]

    def asgi(self):
        routes = [
            Route("/_emulator/config", self.route(self.admin_config), methods=["GET", "POST"]),
            Route("/_emulator/reset", self.route(self.admin_reset), methods=["POST"]),
            Route("/_emulator/sessions/{session_id}", self.route(self.admin_session)),
            *[Mount(prefix, routes=self.api_routes()) for prefix in PREFIXES],
            *self.api_routes(),
        ]
        app = Starlette(routes=routes)
        return FaultMiddleware(app, self)


class FaultMiddleware:
    """Delays and injected failures for REST and SSE requests (never the admin API)."""

    def __init__(self, app, emulator: Emulator) -> None:
        self.app = app
        self.emulator = emulator

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/_emulator"):
            config = self.emulator.state.config
            if config.fail_path and config.fail_path not in scope["path"]:
                await self.app(scope, receive, send)
                return
            if config.delay_s > 0:
                await asyncio.sleep(config.delay_s)
            fail = False
            if config.fail_count > 0:
                config.fail_count -= 1
                fail = True
            elif config.fail_rate > 0 and self.emulator.rng.random() < config.fail_rate:
                fail = True
            if fail:
                headers = {"Retry-After": f"{config.retry_after:g}"} if config.retry_after >= 0 else None
                if config.fail_status == 204:
                    await Response(status_code=204)(scope, receive, send)
                    return
                body = {"errors": [{"code": "injected_failure", "message": "Injected failure (atai emulator)"}]}
                await JSONResponse(body, status_code=config.fail_status, headers=headers)(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _deny(websocket: WebSocket, response: Response) -> None:
    try:
        await websocket.send_denial_response(response)
    except RuntimeError:  # server without the denial-response extension
        await websocket.close(code=1008)


def _shard(items: list, request: Request) -> list:
    try:
        index = int(request.query_params.get("shard_index", -1))
        size = int(request.query_params.get("max_items_per_shard", -1))
    except ValueError:
        return items
    if size > 0:
        start = max(0, index) * size
        return items[start:start + size]
    return items
