"""atai lens: list, show, register, clone, modify, delete."""

from __future__ import annotations

from typing import Annotated

import typer

from atai_cli.commands.base import AtaiTyper
from atai_cli.commands.inputs import read_document
from atai_cli.commands.options import JsonOpt, LensIdArg, QuietOpt, app_state
from atai_cli.output import Column
from atai_cli.protocol.channels import output_channel

app = AtaiTyper(help="Lenses: list and inspect them, register your own.")

LENS_COLUMNS = (
    Column("lens_id", "LENS ID"), Column("lens_name", "NAME"), Column("lens_status", "STATUS"),
    Column("lens_modifiable", "MODIFIABLE"), Column("output_channel", "CHANNEL"),
)
DocumentArg = Annotated[str, typer.Argument(metavar="FILE", help="YAML or JSON; - reads stdin.")]


def _with_channel(lens: dict) -> dict:
    channel, why = output_channel(lens.get("lens_config"))
    return {**lens, "output_channel": channel, "output_channel_reason": why}


@app.command("list")
def lens_list(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """List the lenses your key can use, with the output channel each one writes to."""
    state = app_state(ctx)
    state.out.table([_with_channel(lens) for lens in state.api().list_lenses()], LENS_COLUMNS, empty="no lenses")


@app.command("show")
def lens_show(ctx: typer.Context, lens_id: LensIdArg, json_: JsonOpt = False) -> None:
    """Show one lens, and which output channel it uses (sse or read) and why."""
    state = app_state(ctx)
    lens = _with_channel(state.api().get_lens(lens_id))
    state.out.record(lens, title=lens.get("lens_name"),
                  fields=("lens_id", "lens_name", "lens_status", "lens_modifiable", "output_channel",
                          "output_channel_reason", "lens_config"))


@app.command("register")
def lens_register(ctx: typer.Context, file: DocumentArg, quiet: QuietOpt = False, json_: JsonOpt = False) -> None:
    """Register a lens from a config file.

    Both shapes seen in practice work: {lens_name, lens_config: {...}} and
    {lens_config: {lens_name, ...}} (the body the API takes).
    """
    state = app_state(ctx)
    document = read_document(file, state.env.stdin)
    config = document["lens_config"] if isinstance(document.get("lens_config"), dict) and "lens_name" not in document else document
    _created(state, state.api().register_lens(config), quiet, "registered")


@app.command("clone")
def lens_clone(ctx: typer.Context, lens_id: LensIdArg, quiet: QuietOpt = False, json_: JsonOpt = False) -> None:
    """Clone a lens into one you can modify."""
    state = app_state(ctx)
    _created(state, state.api().clone_lens(lens_id), quiet, "cloned")


@app.command("modify")
def lens_modify(ctx: typer.Context, lens_id: LensIdArg, file: DocumentArg, json_: JsonOpt = False) -> None:
    """Modify a lens you registered or cloned: the changes are deep-merged into its lens_config.

    FILE holds either {lens_config: {...}} or the sections themselves: model_pipeline,
    model_parameters, input_streams, output_streams and csv_configs merge into lens_config,
    lens_name renames the lens, and any other key is a model parameter ({focus: forklifts}
    sets model_parameters.focus). Objects merge key by key; lists and values replace.
    Prints what changed.
    """
    from atai_cli.protocol.lens_config import deep_merge, differences, normalise_changes

    state = app_state(ctx)
    name, changes = normalise_changes(read_document(file, state.env.stdin))
    api = state.api()
    current = api.get_lens(lens_id)
    merged = deep_merge(current.get("lens_config") or {}, changes)
    body: dict = {"lens_config": merged}
    if name is not None:
        body["lens_name"] = name
    lens = api.modify_lens(lens_id, body)
    changed = differences(current.get("lens_config") or {}, lens.get("lens_config") or {})
    if name is not None and name != current.get("lens_name"):
        changed.insert(0, ("lens_name", current.get("lens_name"), name))
    state.out.done(lens, f"modified {lens_id}: " + (", ".join(f"{path} {_short(old)} -> {_short(new)}" for path, old, new in changed)
                                                  or "nothing changed"))


@app.command("delete")
def lens_delete(ctx: typer.Context, lens_id: LensIdArg, json_: JsonOpt = False) -> None:
    """Delete a lens you registered or cloned (its running sessions go on)."""
    state = app_state(ctx)
    state.out.done(state.api().delete_lens(lens_id), f"deleted {lens_id}")


def _created(state, lens: dict, quiet: bool, verb: str) -> None:
    state.out.created(lens, f"{verb} {lens.get('lens_name', '')}", lens["lens_id"], quiet=quiet)


def _short(value) -> str:
    import json

    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:39] + "…"
