"""/files: upload, metadata, info, download, delete."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from atai_cli.emulator.replies import errors

if TYPE_CHECKING:
    from atai_cli.emulator.app import Emulator

MAX_UPLOAD = 512 * 1024 * 1024


def routes(emu: "Emulator") -> list[Route]:
    files = emu.state.files

    def not_found(file_id: str) -> Response:
        return errors(404, "file_not_found", f"Unknown file id: {file_id}")

    async def upload(request: Request) -> Response:
        form = await request.form(max_part_size=MAX_UPLOAD)
        part = form.get("file")
        if part is None or isinstance(part, str):
            return errors(400, "missing_parameter", "multipart field 'file' is required")
        content = await part.read()
        if len(content) > MAX_UPLOAD:
            return errors(413, "invalid_file_size", "Files are limited to 512 MB")
        record = files.put(part.filename or "upload.bin", content, part.content_type or "application/octet-stream")
        return JSONResponse({"is_valid": True, "file_id": record["file_id"], "file_uid": record["file_uid"]})

    async def metadata(request: Request) -> Response:
        records = sorted(files.records.values(), key=lambda r: -r["created_timestamp"])
        limit = int(request.query_params.get("limit") or 100)
        return JSONResponse({"data": records[:limit], "has_more": len(records) > limit, "next_cursor": None, "prev_cursor": None})

    async def one(request: Request) -> Response:
        record = files.records.get(request.path_params["file_id"])
        return JSONResponse(record) if record is not None else not_found(request.path_params["file_id"])

    async def info(request: Request) -> Response:
        records = files.records.values()
        return JSONResponse({"num_files": len(records), "num_bytes": sum(r["num_bytes"] for r in records),
                             "num_ingested": len(records), "last_updated": time.time()})

    async def download(request: Request) -> Response:
        path = files.path(request.path_params["file_id"])
        if path is None:
            return not_found(request.path_params["file_id"])
        return FileResponse(path, media_type="application/octet-stream")

    async def delete(request: Request) -> Response:
        record = files.delete(request.path_params["file_id"])
        if record is None:
            return not_found(request.path_params["file_id"])
        return JSONResponse({"is_valid": True, "file_id": record["file_id"], "file_uid": record["file_uid"]})

    r = emu.route
    return [
        Route("/files", r(upload), methods=["POST"]),
        Route("/files/info", r(info)),
        Route("/files/metadata", r(metadata)),
        Route("/files/metadata/{file_id:path}", r(one)),
        Route("/files/download/{file_id:path}", r(download)),
        Route("/files/delete/{file_id:path}", r(delete), methods=["DELETE"]),
    ]
