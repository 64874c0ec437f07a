"""atai files: upload, list, delete."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from atai_cli.commands.base import AtaiTyper
from atai_cli.commands.inputs import require_file
from atai_cli.commands.options import JsonOpt, app_state
from atai_cli.output import Column

app = AtaiTyper(help="Files that input streams read (CSV, video, JSONL).")

FILE_COLUMNS = (
    Column("file_id", "FILE ID"), Column("file_type", "TYPE"), Column("num_bytes", "BYTES"),
    Column("file_status", "STATUS"), Column("created_timestamp", "UPLOADED", "time"),
)


@app.command("upload")
def files_upload(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(metavar="PATH", help="The file to upload; its name becomes its file id.")],
    json_: JsonOpt = False,
) -> None:
    """Upload a file (a progress bar on a terminal, nothing on a pipe); prints its file id."""
    require_file(path)
    state = app_state(ctx)
    with state.out.progress(f"uploading {path.name}", path.stat().st_size) as update:
        result = state.api().upload_file(path, progress=update)
    state.out.created(result, f"uploaded {path.name}", result["file_id"])


@app.command("list")
def files_list(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """List uploaded files."""
    state = app_state(ctx)
    state.out.table(state.api().list_files(), FILE_COLUMNS, empty="no files")


@app.command("delete")
def files_delete(ctx: typer.Context, file_id: Annotated[str, typer.Argument(metavar="FILE_ID")], json_: JsonOpt = False) -> None:
    """Delete an uploaded file."""
    state = app_state(ctx)
    state.out.done(state.api().delete_file(file_id), f"deleted {file_id}")
