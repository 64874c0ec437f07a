"""Session events (lens-api.md section 2.3), one handler each, shared by the WebSocket and by
POST /lens/sessions/events/process, so both transports answer exactly alike."""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from typing import Any, Awaitable, Callable

from atai_cli.emulator import processors
from atai_cli.emulator.catalog import answers_queries
from atai_cli.emulator.state import EmulatorState, Session
from atai_cli.protocol import status as st
from atai_cli.protocol.messages import QUERY_TIMED_OUT, unknown_session
from atai_cli.protocol.streams import (
    CSV_READER, FILE_READERS, RTSP_READERS, SENSOR_STREAMER, SYNTHETIC_READER, VIDEO_READER, output_problems,
)


def response(event_type: str, event_data: Any) -> dict:
    return {"type": f"{event_type}.response", "event_data": event_data}


def valid(event_type: str, errors: list[str] | None = None) -> dict:
    return response(event_type, {"is_valid": not errors, "error_messages": errors or []})


def error(message: str) -> dict:
    return {"type": "error", "message": message}


class SessionEvents:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.handlers: dict[str, Callable[..., Awaitable[dict]]] = {
            "session.status": self.status,
            "session.validate": self.validate,
            "session.read": self.read,
            "session.destroy": self.destroy,
            "session.heartbeat": self.heartbeat,
            "session.get": self.get,
            "session.modify": self.modify,
            "session.update": self.update,
            "input_stream.set": self.input_stream_set,
            "output_stream.set": self.output_stream_set,
            "model.query": self.model_query,
        }

    async def handle(self, session_id: str, message: Any, api_key: str, endpoint: str) -> dict:
        session = self.state.sessions.get(session_id)
        if session is None or session.destroyed:
            return error(unknown_session(session_id))
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return error("Invalid event: expected a JSON object with a string 'type'")
        handler = self.handlers.get(message["type"])
        if handler is None:
            return error(f"Unknown event type: {message['type']}")
        data = message.get("event_data")
        session.num_events += 1
        session.last_event_timestamp = time.time()
        return await handler(session, data if isinstance(data, dict) else {}, api_key=api_key, endpoint=endpoint)

    # -- session ------------------------------------------------------------------------
    async def status(self, session: Session, data: dict, *, api_key: str, endpoint: str) -> dict:
        return session.record(api_key, endpoint)

    async def validate(self, session: Session, data: dict, **_: Any) -> dict:
        if session.status == st.RUNNING:
            return valid("session.validate")
        return valid("session.validate", [f"Session is not running ({session.status})"])

    async def read(self, session: Session, data: dict, **_: Any) -> dict:
        client_id = str(data.get("client_id") or "")
        if not client_id:
            return valid("session.read", ["event_data.client_id is required"])
        messages = session.read_mail(client_id, self.state.config.read_batch)
        if not messages:
            return response("session.read", None)
        return response("session.read", {"messages": messages, "client_id": client_id})

    async def destroy(self, session: Session, data: dict, *, api_key: str, endpoint: str) -> dict:
        destroy_session(session)
        return response("session.destroy", {"is_valid": True, "error_messages": [], "session": session.summary(endpoint)})

    async def heartbeat(self, session: Session, data: dict, **_: Any) -> dict:
        return response("session.heartbeat", None)

    async def get(self, session: Session, data: dict, **_: Any) -> dict:
        return response("session.get", dict(session.lens_config.get("model_parameters") or {}))

    async def modify(self, session: Session, data: dict, **_: Any) -> dict:
        if not data:
            return valid("session.modify", ["event_data must name at least one parameter"])
        params = session.lens_config.setdefault("model_parameters", {})
        for key, value in data.items():
            if key == "csv_configs" and isinstance(value, dict):
                session.lens_config.setdefault("csv_configs", {}).update(value)
            params[key] = value
        session.touch()
        return valid("session.modify")

    async def update(self, session: Session, data: dict, **_: Any) -> dict:
        if not data:
            return valid("session.update", ["event_data must hold a data event (e.g. data.json)"])
        session.num_inputs += 1
        session.emit("inference.result", processors.sensor_result(data, session.num_inputs - 1))
        return valid("session.update")

    # -- streams ------------------------------------------------------------------------
    async def input_stream_set(self, session: Session, data: dict, **_: Any) -> dict:
        kind = data.get("stream_type")
        config = data.get("stream_config") if isinstance(data.get("stream_config"), dict) else {}
        if kind in FILE_READERS:
            file_id = config.get("file_id")
            if not file_id:
                return valid("input_stream.set", [f"stream_config.file_id is required for {kind}"])
            path = self.state.files.path(str(file_id))
            if path is None:
                session.emit("error", {"message": "Input stream is unhealthy!", "file_id": file_id})
                return valid("input_stream.set", ["Input stream is unhealthy!", f"File not found: {file_id}"])
            if kind == CSV_READER:
                coroutine = processors.run_csv(session, self.state.config, path, config)
            elif kind == VIDEO_READER:
                coroutine = processors.run_frames(session, self.state.config, str(file_id), 4)
            else:
                coroutine = processors.run_frames(session, self.state.config, str(file_id), 3)
        elif kind in RTSP_READERS:
            url = config.get("rtsp_url")
            if not url or not str(url).startswith(("rtsp://", "rtsps://")):
                return valid("input_stream.set", ["stream_config.rtsp_url must be an rtsp:// URL"])
            coroutine = processors.run_frames(session, self.state.config, str(url), None)
        elif kind == SYNTHETIC_READER:
            coroutine = processors.run_synthetic(
                session, int(config.get("count", 1000)), int(config.get("payload_bytes", 64)),
                float(config.get("rate_hz", 0)), bool(config.get("end", False)),
            )
        elif kind == SENSOR_STREAMER:
            coroutine = None  # data arrives with session.update
        else:
            return valid("input_stream.set", [f"Unknown stream_type: {kind!r}"])
        session.input_data_stream_id = f"{kind}:{config.get('file_id') or config.get('rtsp_url') or 'direct'}"
        session.touch()
        if coroutine is not None:
            start_task(session, coroutine)
        return valid("input_stream.set")

    async def output_stream_set(self, session: Session, data: dict, **_: Any) -> dict:
        kind = data.get("stream_type")
        problems = output_problems(kind, data.get("stream_config"))
        if problems:
            return valid("output_stream.set", problems)
        streams = session.lens_config.setdefault("output_streams", [])
        if not any(isinstance(s, dict) and s.get("stream_type") == kind for s in streams):
            streams.append({"stream_type": kind, "stream_config": data.get("stream_config") or {}})
        session.output_data_stream_id = kind
        session.touch()
        return valid("output_stream.set")

    async def model_query(self, session: Session, data: dict, **_: Any) -> dict:
        config = self.state.config
        if not answers_queries(session.lens_config):
            await asyncio.sleep(config.query_timeout_s)
            return {"type": "model.query.response", "message": QUERY_TIMED_OUT}
        items = data.get("data") or []
        image = next((i for i in items if isinstance(i, dict) and i.get("base64_img")), None)
        if image is None:
            return error("model.query needs data: [{\"type\": \"base64_img\", \"base64_img\": ...}]")
        try:
            raw = base64.b64decode(image["base64_img"], validate=True)
        except (binascii.Error, ValueError):
            return error("model.query: base64_img is not valid base64")
        if config.query_delay_s >= config.query_timeout_s:
            await asyncio.sleep(config.query_timeout_s)
            return {"type": "model.query.response", "message": QUERY_TIMED_OUT}
        await asyncio.sleep(config.query_delay_s)
        params = session.lens_config.get("model_parameters") or {}
        answer = processors.describe_image(
            raw, data.get("template_name", "image_qa_template_task"),
            data.get("focus", params.get("focus")), data.get("instruction", params.get("instruction")),
        )
        session.num_inputs += 1
        return response("model.query", {
            "response": [answer],
            "result": answer,  # the docs' key; observed code reads `response`
            "query_id": processors.query_id(),
            "query_time_sec": config.query_delay_s,
        })


def start_task(session: Session, coroutine) -> None:
    task = asyncio.get_running_loop().create_task(coroutine)
    session.tasks.add(task)
    task.add_done_callback(session.tasks.discard)


def destroy_session(session: Session) -> None:
    if session.destroyed:
        return
    session.status = st.DESTROYED
    session.session_destroyed_timestamp = time.time()
    session.touch()
    for task in list(session.tasks):
        task.cancel()
    session.outputs.notify()  # SSE readers see the destroy and send sse.stream.end
