"""/lens/metadata, /lens/info, register, clone, modify, delete."""

from __future__ import annotations

import copy
import re
import secrets
import time
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from atai_cli.emulator.lens_checks import INVALID_MODEL_PARAMETER, parameter_problems
from atai_cli.emulator.replies import errors, json_body, shard

if TYPE_CHECKING:
    from atai_cli.emulator.context import EmulatorContext


def routes(emu: "EmulatorContext") -> list[Route]:
    state = emu.state

    async def metadata(request: Request) -> Response:
        lens_id = request.query_params.get("lens_id", "")
        lenses = [lens for lens in state.lenses.values() if not lens_id or lens["lens_id"] == lens_id]
        return JSONResponse(shard(lenses, request))

    async def info(request: Request) -> Response:
        lenses = state.lenses.values()
        return JSONResponse({
            "num_lenses": len(lenses),
            "num_registered_lenses": sum(1 for lens in lenses if lens["lens_modifiable"]),
            "last_updated": time.time(),
        })

    async def register(request: Request) -> Response:
        body = await json_body(request)
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
        problems = parameter_problems(inner.get("model_parameters"))
        if problems:
            return invalid_parameters(problems)
        pipeline = inner.get("model_pipeline") or [{"processor_name": "lens_noop_processor"}]
        if not isinstance(pipeline, list):
            pipeline = []  # session.validate reports the empty pipeline
        inner["model_pipeline"] = [{"processor_config": {}, **step} for step in pipeline if isinstance(step, dict)]
        return JSONResponse(add_lens(emu, name, inner))

    async def clone(request: Request) -> Response:
        body = await json_body(request)
        source = emu.lens_or_404(body.get("lens_id"))
        config = copy.deepcopy(source["lens_config"])
        config["origin_lens_id"] = source["lens_id"]
        return JSONResponse(add_lens(emu, f"{source['lens_name']} (clone)", config))

    async def modify(request: Request) -> Response:
        body = await json_body(request)
        lens = emu.lens_or_404(body.pop("lens_id", None))
        if not lens["lens_modifiable"]:
            return errors(409, "lens_not_modifiable", f"Lens {lens['lens_id']} is built in and cannot be modified")
        for key in READ_ONLY:  # the SDK's clone example sends the whole metadata object back
            body.pop(key, None)
        name = body.pop("lens_name", None)
        changes = body.pop("lens_config", None)
        changes = dict(changes) if isinstance(changes, dict) else {}
        params = changes.pop("model_parameters", None)
        params = {} if params is None else params
        if not isinstance(params, dict):
            return invalid_parameters([f"{INVALID_MODEL_PARAMETER}: model_parameters must be an object"])
        params = {**params, **body}  # flat keys are model parameters: sdk.lens.modify(id, {"focus": ...})
        problems = parameter_problems(params)
        if problems:
            return invalid_parameters(problems)
        if name is not None:
            lens["lens_name"] = str(name)
        lens["lens_config"].update(changes)
        if params:
            lens["lens_config"].setdefault("model_parameters", {}).update(params)
        return JSONResponse(lens)

    async def delete(request: Request) -> Response:
        body = await json_body(request)
        lens = emu.lens_or_404(body.get("lens_id"))
        if not lens["lens_modifiable"]:
            return errors(409, "lens_not_modifiable", f"Lens {lens['lens_id']} is built in and cannot be deleted")
        del state.lenses[lens["lens_id"]]
        return JSONResponse({"is_valid": True, "lens_id": lens["lens_id"], "errors": []})

    r = emu.route
    return [
        Route("/lens/metadata", r(metadata)),
        Route("/lens/info", r(info)),
        Route("/lens/register", r(register), methods=["POST"]),
        Route("/lens/clone", r(clone), methods=["POST"]),
        Route("/lens/modify", r(modify), methods=["POST"]),
        Route("/lens/delete", r(delete), methods=["POST"]),
    ]


READ_ONLY = ("lens_id", "lens_status", "lens_modifiable")


def invalid_parameters(problems: list[str]) -> Response:
    """The docs' invalid_model_parameter, with register's in-body validity fields too."""
    return errors(400, INVALID_MODEL_PARAMETER, "; ".join(problems), is_valid=False, error_messages=problems)


def add_lens(emu: "EmulatorContext", name: str, config: dict, id_suffix: str = "") -> dict:
    """A new, modifiable lens with a registered-style id: lns-<slug>-<8 hex>."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:24] or "lens"
    lens = {
        "lens_id": f"lns-{slug}{id_suffix}-{secrets.token_hex(4)}",
        "lens_name": name,
        "lens_status": "LENS_STATUS_REGISTERED",
        "lens_modifiable": True,
        "lens_config": config,
    }
    emu.state.lenses[lens["lens_id"]] = lens
    return lens
