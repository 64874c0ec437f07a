"""atai query: ask the model about one image (model.query)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from atai_cli.commands.inputs import require_image
from atai_cli.commands.options import JsonOpt, SessionIdArg, app_state, finite
from atai_cli.errors import OperationTimeout, ServerTimeout


def query(
    ctx: typer.Context,
    session_id: SessionIdArg,
    image: Annotated[Path, typer.Option("--image", metavar="PATH", help="The image to ask about (JPEG or PNG).")],
    focus: Annotated[str | None, typer.Option("--focus", metavar="TEXT", help="What to focus on, e.g. 'people, vehicles'.")] = None,
    instruction: Annotated[str | None, typer.Option("--instruction", metavar="TEXT", help="The question or instruction.")] = None,
    template: Annotated[str, typer.Option("--template", metavar="NAME", help="image_qa, image_bbox, or a full template name.")] = "image_qa",
    model_version: Annotated[str | None, typer.Option("--model-version", metavar="VERSION", help="e.g. Newton::c2_4_7b_251215a172f6d7.")] = None,
    max_new_tokens: Annotated[int | None, typer.Option("--max-new-tokens", metavar="N", min=1, help="Longest answer, in tokens.")] = None,
    timeout: Annotated[float, typer.Option("--timeout", metavar="S", callback=finite, min=1, help="Give up after S seconds (the server itself gives up at ~60 s).")] = 75.0,
    json_: JsonOpt = False,
) -> None:
    """Ask the lens about an image and print the answer."""
    from atai_cli.protocol.processors import answers_queries, processor_names

    require_image(image)
    state = app_state(ctx)
    api = state.api()
    record = api.session_status(session_id)
    if not answers_queries(record.get("lens_config")):
        names = ", ".join(processor_names(record.get("lens_config"))) or "none"
        state.out.warn(f"this lens's pipeline ({names}) has no model-query processor: the server may not answer "
                    f"(it gives up after about 60s)")
    try:
        with state.out.spinner("waiting for the model…"):
            answer = api.model_query(session_id, image, template=template, focus=focus, instruction=instruction,
                                     model_version=model_version, max_new_tokens=max_new_tokens, timeout=timeout)
    except OperationTimeout as exc:
        if not isinstance(exc, ServerTimeout):
            exc.message = f"model.query on {session_id} timed out after {timeout:g}s"
        exc.hint = "raise --timeout, or ask a lens whose pipeline answers queries (see `atai lens show`)"
        raise
    state.out.result(answer.data, answer.text)
