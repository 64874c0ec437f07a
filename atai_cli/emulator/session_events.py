"""Session events (lens-api.md section 2.3), one handler each, shared by the WebSocket and by
POST /lens/sessions/events/process, so both transports answer exactly alike."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from typing import Any, Awaitable, Callable

from atai_cli.emulator import lens_checks, runner
from atai_cli.protocol.processors import answers_queries
from atai_cli.emulator.processors import camera, common, csv_table, model_parameters, n_shot
from atai_cli.emulator.memory import EmulatorState, Session
from atai_cli.protocol import status
from atai_cli.protocol.messages import QUERY_TIMED_OUT, unknown_session
from atai_cli.protocol.streams import output_problems

log = logging.getLogger("atai_cli.emulator")


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
        if session is None:
            return error(unknown_session(session_id))
        if session.destroyed:
            if isinstance(message, dict) and message.get("type") == "session.validate":  # says why
                return valid("session.validate", runner.validation_problems(self.state, session))
            return error(unknown_session(session_id))
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return error("Invalid event: expected a JSON object with a string 'type'")
        handler = self.handlers.get(message["type"])
        if handler is None:
            return error(f"Unknown event type: {message['type']}")
        data = message.get("event_data")
        session.num_events += 1
        session.last_event_timestamp = time.time()
        try:
            return await handler(session, data if isinstance(data, dict) else {}, api_key=api_key, endpoint=endpoint)
        except Exception as exc:  # noqa: BLE001 - an emulator bug: answer, and log it for us
            log.exception("emulator bug: %s on session %s failed", message["type"], session_id)
            return error(f"internal_logic_error: {message['type']} failed ({exc})")

    # -- session ------------------------------------------------------------------------
    async def status(self, session: Session, data: dict, *, api_key: str, endpoint: str) -> dict:
        return session.record(api_key, endpoint)

    async def validate(self, session: Session, data: dict, **_: Any) -> dict:
        return valid("session.validate", runner.validation_problems(self.state, session))

    async def read(self, session: Session, data: dict, **_: Any) -> dict:
        client_id = data.get("client_id")
        if isinstance(client_id, int) and not isinstance(client_id, bool):
            client_id = str(client_id)
        if not isinstance(client_id, str) or not client_id:
            return valid("session.read", ["event_data.client_id (a string) is required"])
        if session.player is not None:
            session.player.reader()  # a mailbox replay starts with its first read
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
        return response("session.get", dict(model_parameters(session.lens_config)))

    async def modify(self, session: Session, data: dict, **_: Any) -> dict:
        """Merge parameters into the session's model_parameters (and csv_configs into its own
        key); `input_n_shot` teaches the Machine State classes from example files. Checked
        first: nothing changes when anything is wrong."""
        if not data:
            return valid("session.modify", ["event_data must name at least one parameter"])
        problems = lens_checks.parameter_problems(data)
        learned = None
        if not problems and "input_n_shot" in data:
            csv_configs = {**(session.lens_config.get("csv_configs") or {}), **(data.get("csv_configs") or {})}
            learned, problems = n_shot.learn(data["input_n_shot"], csv_configs, self.state.files.path, csv_table.parse_csv)
        if problems:
            return valid("session.modify", problems)
        params = model_parameters(session.lens_config)
        session.lens_config["model_parameters"] = params
        for key, value in data.items():
            if key == "csv_configs":
                session.lens_config.setdefault("csv_configs", {}).update(value)
            params[key] = value
        if learned is not None:
            session.n_shot = learned
            for label, file_ids in learned.examples.items():  # as the real lens reports each class
                session.model.submit_nowait("session.modify.result", {
                    "response": [f"learned {label} from {learned.rows[label]} rows"],
                    "query_id": common.query_id(),
                    "query_metadata": {"class_name": label, "file_ids": file_ids},
                }, runner.PUSHED)
        session.touch()
        return valid("session.modify")

    async def update(self, session: Session, data: dict, **_: Any) -> dict:
        if session.player is not None:
            return valid("session.update", [replays_only(session)])
        if not data:
            return valid("session.update", ["event_data must hold a data event (e.g. data.json)"])
        return valid("session.update", runner.push(session, data))

    # -- streams ------------------------------------------------------------------------
    async def input_stream_set(self, session: Session, data: dict, **_: Any) -> dict:
        if session.player is not None:
            return valid("input_stream.set", [replays_only(session)])
        problems = await runner.set_input(self.state, session, data.get("stream_type"), data.get("stream_config"))
        if runner.UNHEALTHY in problems:  # also said on the output channel (lens-api.md 7.25)
            session.emit("error", {"message": runner.UNHEALTHY, "file_id": (data.get("stream_config") or {}).get("file_id")})
        return valid("input_stream.set", problems)

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
        items = data.get("data")
        image = next((i for i in items if isinstance(i, dict) and i.get("base64_img")), None) if isinstance(items, list) else None
        if image is None:
            return error("model.query needs data: [{\"type\": \"base64_img\", \"base64_img\": ...}]")
        try:
            raw = base64.b64decode(image["base64_img"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            return error("model.query: base64_img is not valid base64")
        if config.query_delay_s >= config.query_timeout_s:
            await asyncio.sleep(config.query_timeout_s)
            return {"type": "model.query.response", "message": QUERY_TIMED_OUT}
        await asyncio.sleep(config.query_delay_s)
        params = model_parameters(session.lens_config)
        answer = camera.describe_image(
            raw, data.get("template_name", "image_qa_template_task"),
            data.get("focus", params.get("focus")), data.get("instruction", params.get("instruction")),
        )
        session.num_inputs += 1
        return response("model.query", {
            "response": [answer],
            "result": answer,  # the docs' key; observed code reads `response`
            "query_id": common.query_id(),
            "query_time_sec": config.query_delay_s,
        })


def replays_only(session: Session) -> str:
    return f"{session.lens['lens_id']} replays a recording: its sessions take no input"


def destroy_session(session: Session) -> None:
    if session.destroyed:
        return
    session.status = status.DESTROYED
    session.session_destroyed_timestamp = time.time()
    session.touch()
    for task in list(session.tasks):
        task.cancel()
    if session.model is not None:
        session.model.clear()
    session.outputs.notify()  # SSE readers see the destroy and send sse.stream.end
