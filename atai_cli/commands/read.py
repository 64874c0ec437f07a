"""atai read: one session.read from the session's mailbox."""

from __future__ import annotations

from typing import Annotated

import typer

from atai_cli.commands.options import JsonOpt, SessionIdArg, app_state
from atai_cli.output import Column
from atai_cli.protocol.channels import sse_writer

MESSAGE_COLUMNS = (Column("timestamp", "TIME", "time"), Column("type", "TYPE"), Column("data", "DATA"))


def read(
    ctx: typer.Context,
    session_id: SessionIdArg,
    client_id: Annotated[str | None, typer.Option("--client-id", metavar="ID", help="Mailbox cursor id; default: one kept per profile, so reads never replay.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Read the messages waiting in a session's mailbox (one session.read).

    On a terminal: a table. Piped, or with --json: one JSON line per message.
    Lenses with an SSE writer send nothing here; follow those with `atai tail`.
    """
    state = app_state(ctx)
    api = state.api()
    record = api.session_status(session_id)
    messages = api.read_mailbox(session_id, client_id or state.client_id(), record=record)
    out = state.out
    if out.mode == "tty":
        out.table(messages, MESSAGE_COLUMNS, empty="no new messages")
    else:
        writer = out.jsonl()
        for message in messages:
            writer.write_object(message)
        if not messages:
            out.info("no new messages")
    if not messages and sse_writer(record.get("lens_config")):
        out.info(f"this session writes to the SSE consumer, not the mailbox: follow it with `atai tail {session_id}`")
