"""atai lens: list, show, register, clone, modify, delete."""

from __future__ import annotations

from typing import Annotated

import typer

from atai_cli.commands._common import LensIdArg, JsonOpt, load_document, state
from atai_cli.protocol.channels import output_channel

app = typer.Typer(help="Lenses: list and inspect them, register your own.", no_args_is_help=True)

QuietOpt = Annotated[bool, typer.Option("-q", "--quiet", help="Print only the new lens id.")]


def _with_channel(lens: dict) -> dict:
    channel, why = output_channel(lens.get("lens_config"))
    return {**lens, "output_channel": channel, "output_channel_reason": why}


@app.command("list")
def lens_list(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """List the lenses your key can use, with the output channel each one writes to."""
    st = state(ctx)
    out = st.output(json_)
    lenses = [_with_channel(l) for l in st.api(out).list_lenses()]
    out.table(lenses, [
        ("lens_id", "LENS ID"), ("lens_name", "NAME"), ("lens_status", "STATUS"),
        ("lens_modifiable", "MODIFIABLE"), ("output_channel", "CHANNEL"),
    ], empty="no lenses")


@app.command("show")
def lens_show(ctx: typer.Context, lens_id: LensIdArg, json_: JsonOpt = False) -> None:
    """Show one lens, and which output channel it uses (sse or read) and why."""
    st = state(ctx)
    out = st.output(json_)
    lens = _with_channel(st.api(out).get_lens(lens_id))
    out.record(lens, title=lens.get("lens_name"))


@app.command("register")
def lens_register(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="Lens config as YAML or JSON; - reads stdin.")],
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Register a lens from a config file.

    Both shapes seen in practice work: {lens_name, lens_config: {...}} and
    {lens_config: {lens_name, ...}} (the body the API takes).
    """
    st = state(ctx)
    out = st.output(json_)
    document = load_document(file)
    config = document["lens_config"] if isinstance(document.get("lens_config"), dict) and "lens_name" not in document else document
    lens = st.api(out).register_lens(config)
    _done(out, lens, quiet, "registered")


@app.command("clone")
def lens_clone(ctx: typer.Context, lens_id: LensIdArg, quiet: QuietOpt = False, json_: JsonOpt = False) -> None:
    """Clone a lens into one you can modify."""
    st = state(ctx)
    out = st.output(json_)
    _done(out, st.api(out).clone_lens(lens_id), quiet, "cloned")


@app.command("modify")
def lens_modify(
    ctx: typer.Context,
    lens_id: LensIdArg,
    file: Annotated[str, typer.Argument(help="Changes as YAML or JSON; - reads stdin.")],
    json_: JsonOpt = False,
) -> None:
    """Modify a lens you registered or cloned."""
    st = state(ctx)
    out = st.output(json_)
    lens = st.api(out).modify_lens(lens_id, load_document(file))
    out.done(lens, f"modified {lens_id}")


@app.command("delete")
def lens_delete(ctx: typer.Context, lens_id: LensIdArg, json_: JsonOpt = False) -> None:
    """Delete a lens you registered or cloned."""
    st = state(ctx)
    out = st.output(json_)
    result = st.api(out).delete_lens(lens_id)
    out.done(result, f"deleted {lens_id}")


def _done(out, lens: dict, quiet: bool, verb: str) -> None:
    if quiet:
        out.text(lens["lens_id"])
    elif out.json_mode:
        out.json(lens)
    else:
        out.success(f"{verb} {lens.get('lens_name', '')}")
        out.text(lens["lens_id"])
