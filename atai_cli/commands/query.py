"""atai query: ask the model about one image (model.query)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from atai_cli.commands._common import SessionIdArg, JsonOpt, require_file, state
from atai_cli.errors import ProtocolError

TEMPLATES = {"image_qa": "image_qa_template_task", "image_bbox": "image_bbox_template_task"}


def answer_text(reply: dict) -> str:
    data = reply.get("event_data")
    if not isinstance(data, dict):
        raise ProtocolError("model.query: the reply has no event_data")
    answer = data.get("response", data.get("result"))
    if isinstance(answer, list):
        return "\n".join(map(str, answer))
    if answer is None:
        raise ProtocolError("model.query: the reply has neither event_data.response nor event_data.result")
    return str(answer)


def query(
    ctx: typer.Context,
    session_id: SessionIdArg,
    image: Annotated[Path, typer.Option("--image", help="The image to ask about (JPEG/PNG).")],
    focus: Annotated[str | None, typer.Option("--focus", help="What to focus on, e.g. 'people, vehicles'.")] = None,
    instruction: Annotated[str | None, typer.Option("--instruction", help="The question or instruction.")] = None,
    template: Annotated[str, typer.Option("--template", help="image_qa, image_bbox, or a full template name.")] = "image_qa",
    model_version: Annotated[str | None, typer.Option("--model-version", help="e.g. Newton::c2_4_7b_251215a172f6d7.")] = None,
    max_new_tokens: Annotated[int | None, typer.Option("--max-new-tokens", min=1)] = None,
    timeout: Annotated[float, typer.Option("--timeout", metavar="S", min=1, help="Give up after S seconds (the server itself gives up at ~60 s).")] = 75.0,
    json_: JsonOpt = False,
) -> None:
    """Ask the lens about an image and print the answer."""
    from atai_cli.client.api import image_payload

    require_file(image, "image file")
    event: dict = {
        "template_name": TEMPLATES.get(template, template),
        "data": [image_payload(image)],
        "sensor_metadata": {},
    }
    for key, value in (("focus", focus), ("instruction", instruction), ("model_version", model_version), ("max_new_tokens", max_new_tokens)):
        if value is not None:
            event[key] = value
    st = state(ctx)
    out = st.output(json_)
    with out.spinner("waiting for the model…"):
        reply = st.api(out).model_query(session_id, event, timeout=timeout)
    out.result(reply.get("event_data"), answer_text(reply))
