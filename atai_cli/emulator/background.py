"""A session's background work (input readers, the model): tracked, so destroying the
session cancels it, and never dying silently.

Two ways a task can end early:
- `InputFailure`: an expected problem found while running (a declared input whose file is
  gone, say). The session gets an `error` output event with the documented code and the
  message; nothing is logged as a traceback, because the client's input caused it.
- any other exception: an emulator bug. It is logged with its traceback, and the session
  still gets an `error` output event (`internal_logic_error`), so a client waiting for output
  learns that nothing more is coming instead of hanging.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Coroutine

log = logging.getLogger("atai_cli.emulator")


class InputFailure(Exception):
    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


def start_task(session, coroutine: Coroutine, what: str) -> asyncio.Task:
    task = asyncio.get_running_loop().create_task(_guarded(session, coroutine, what))
    session.tasks.add(task)
    task.add_done_callback(session.tasks.discard)
    return task


async def _guarded(session, coroutine: Coroutine, what: str) -> None:
    try:
        await coroutine
    except asyncio.CancelledError:
        raise
    except InputFailure as failure:
        session.input_errors.append(failure.message)
        session.emit("error", {"code": failure.code, "message": failure.message, **failure.details})
    except Exception as exc:  # noqa: BLE001 - the last line of defence, see the module docstring
        log.exception("emulator bug: the %s of session %s failed", what, session.session_id)
        session.emit("error", {"code": "internal_logic_error", "message": f"The {what} failed: {exc}"})
