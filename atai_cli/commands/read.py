"""atai read: one session.read from the session's mailbox."""

from __future__ import annotations

from typing import Annotated

import typer

from atai_cli.commands._common import SessionIdArg, JsonOpt, state
from atai_cli.output.stream import JsonLinesWriter
from atai_cli.protocol.channels import sse_writer


def read(
    ctx: typer.Context,
    session_id: SessionIdArg,
    client_id: Annotated[str | None, typer.Option("--client-id", help="Mailbox cursor id; default: one kept per profile, so reads never replay.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Read the messages waiting in a session's mailbox (one session.read).

    Lenses with an SSE writer send nothing here; follow those with `atai tail`.
    """
    st = state(ctx)
    out = st.output(json_)
    api = st.api(out)
    cid = client_id or st.client_id()
    record = api.session_status(session_id)
    with api.open_socket(record["session_endpoint"]) as sock:
        reply = sock.request("session.read", {"client_id": cid})
    body = reply.get("event_data") if isinstance(reply.get("event_data"), dict) else {}
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    if json_ or not out.stdout_tty:
        writer = JsonLinesWriter(out.stdout)
        for message in messages:
            writer.write_object(message)
    else:
        out.table(messages, [("timestamp", "TIME"), ("type", "TYPE"), ("data", "DATA")], empty="no new messages")
    if not messages and (json_ or not out.stdout_tty):
        out.info("no new messages")
    if not messages and sse_writer(record.get("lens_config")):
        out.info(f"this session writes to the SSE consumer, not the mailbox: follow it with `atai tail {session_id}`")
