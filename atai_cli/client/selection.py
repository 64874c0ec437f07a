"""Many sessions at once (`session destroy --lens/--all/--older-than/--idle`): which ones a
selector picks, and destroying them concurrently with one result each."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from atai_cli.errors import AtaiError
from atai_cli.protocol import status

if TYPE_CHECKING:
    from atai_cli.client.api import LensApi


@dataclass(frozen=True)
class Destroyed:
    session_id: str
    record: dict | None
    error: AtaiError | None = None
    already: bool = False


def select_sessions(api: "LensApi", *, lens_ids: Iterable[str] = (), older_than: float | None = None,
                    idle: float | None = None, now: float | None = None) -> list[dict]:
    """Sessions that are not destroyed and match every given selector: on one of these
    lenses, registered more than older_than seconds ago, no event for idle seconds."""
    now = time.time() if now is None else now
    wanted = set(lens_ids)
    chosen = []
    for record in api.list_sessions():
        if record.get("session_status") in status.ENDED:
            continue
        if wanted and record.get("lens_id") not in wanted:
            continue
        if older_than is not None and not _number(record.get("session_duration_sec"), -1.0) >= older_than:
            continue
        if idle is not None:
            last = record.get("last_event_timestamp") or record.get("last_update_timestamp")
            if not now - _number(last, now) >= idle:
                continue
        chosen.append(record)
    return chosen


def destroy_many(api: "LensApi", session_ids: Iterable[str], *, check_first: bool = False,
                 workers: int = 16) -> list[Destroyed]:
    """Destroy sessions concurrently (bounded), one result each, in order. With
    check_first, a session that is destroyed already is reported as such, not again."""
    ids = list(session_ids)

    def one(session_id: str) -> Destroyed:
        try:
            if check_first:
                known = api.find_session(session_id)
                if known is not None and known.get("session_status") in status.ENDED:
                    return Destroyed(session_id, known, already=True)
            return Destroyed(session_id, api.destroy_session(session_id))
        except AtaiError as exc:
            return Destroyed(session_id, None, error=exc)

    if len(ids) <= 1:
        return [one(i) for i in ids]
    with ThreadPoolExecutor(max_workers=min(workers, len(ids)), thread_name_prefix="destroy") as pool:
        return list(pool.map(one, ids))


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default
