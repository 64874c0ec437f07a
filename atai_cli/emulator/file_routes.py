"""/files: upload, metadata, info, download, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from atai_cli.emulator.replies import errors, shard

if TYPE_CHECKING:
    from atai_cli.emulator.context import EmulatorContext

MAX_UPLOAD = 512 * 1024 * 1024


def routes(emu: "EmulatorContext") -> list[Route]:
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
        """Two documented shapes (lens-api.md 1.5), chosen by the parameters: the docs' array
        paged by shard_index / max_items_per_shard, or SDK 26.10.14.0's cursor page (no shard
        parameters): {data, has_more, next_cursor, prev_cursor} with limit / after / before.
        Newest first in both; a cursor is a file's file_uid."""
        params = request.query_params
        records = files.newest_first()
        if "shard_index" in params or "max_items_per_shard" in params:
            return JSONResponse(shard(records, request))
        try:
            limit = int(params.get("limit") or 100)
        except ValueError:
            limit = 0
        if not 1 <= limit <= 1000:
            return errors(400, "invalid_parameter", "limit must be a whole number from 1 to 1000")
        after, before = params.get("after"), params.get("before")
        if after and before:
            return errors(400, "invalid_parameter", "after and before are mutually exclusive")
        uids = [r["file_uid"] for r in records]
        cursor = after or before
        if cursor and cursor not in uids:
            return errors(400, "invalid_cursor", f"Unknown cursor: {cursor}")
        if before:
            end = uids.index(before)
            start = max(0, end - limit)
        else:
            start = uids.index(after) + 1 if after else 0
            end = min(len(records), start + limit)
        page = records[start:end]
        return JSONResponse({
            "data": page,
            "has_more": start > 0 if before else end < len(records),
            "next_cursor": page[-1]["file_uid"] if page and end < len(records) else None,
            "prev_cursor": page[0]["file_uid"] if page and start > 0 else None,
        })

    async def one(request: Request) -> Response:
        record = files.records.get(request.path_params["file_id"])
        return JSONResponse(record) if record is not None else not_found(request.path_params["file_id"])

    async def info(request: Request) -> Response:
        records = files.records.values()
        # The documented summary; it takes no paging parameters (the SDK sends none).
        return JSONResponse({"num_files": len(records), "num_bytes": sum(r["num_bytes"] for r in records),
                             "num_ingested": sum(1 for r in records if r["ingested"]), "last_updated": files.last_updated})

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
