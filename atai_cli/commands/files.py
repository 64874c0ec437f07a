"""atai files: upload, list, delete."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from atai_cli.commands._common import JsonOpt, require_file, state

app = typer.Typer(help="Files that input streams read (CSV, video, JSONL).", no_args_is_help=True)


@app.command("upload")
def files_upload(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The file to upload; its name becomes its file id.")],
    json_: JsonOpt = False,
) -> None:
    """Upload a file (a progress bar on a terminal, nothing on a pipe)."""
    require_file(path)
    st = state(ctx)
    out = st.output(json_)
    with out.progress(f"uploading {path.name}", path.stat().st_size) as update:
        result = st.api(out).upload_file(path, progress=update)
    out.done(result, f"uploaded {path.name}")
    if not json_:
        out.text(result["file_id"])


@app.command("list")
def files_list(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """List uploaded files."""
    st = state(ctx)
    out = st.output(json_)
    out.table(st.api(out).list_files(), [
        ("file_id", "FILE ID"), ("file_type", "TYPE"), ("num_bytes", "BYTES"), ("file_status", "STATUS"),
    ], empty="no files")


@app.command("delete")
def files_delete(ctx: typer.Context, file_id: str, json_: JsonOpt = False) -> None:
    """Delete an uploaded file."""
    st = state(ctx)
    out = st.output(json_)
    result = st.api(out).delete_file(file_id)
    out.done(result, f"deleted {file_id}")
