"""atai session: create, list, status, validate, destroy, modify."""

from __future__ import annotations

from typing import Annotated

import typer

from atai_cli.commands import _complete
from atai_cli.commands._common import LensIdArg, SessionIdArg, ConfigJsonOpt, JsonOpt, SetOpt, check_valid, parse_json_object, parse_set, state
from atai_cli.errors import ApiError, AtaiError, Interrupted, UsageError
from atai_cli.protocol.status import short_status

app = typer.Typer(help="Lens sessions: create, inspect and destroy them.", no_args_is_help=True)

SUMMARY_FIELDS = (
    "session_id", "lens_id", "lens_name", "session_status", "session_endpoint", "session_start_timestamp",
    "num_active_connections", "num_inputs", "num_outputs", "num_events", "input_data_stream_id",
    "output_data_stream_id", "api_key",
)


@app.command("create")
def session_create(
    ctx: typer.Context,
    lens_id: LensIdArg,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Return at once, without waiting for RUNNING.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", metavar="S", min=0, help="How long to wait for RUNNING.")] = 60.0,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print only the session id: SID=$(atai session create LENS -q).")] = False,
    json_: JsonOpt = False,
) -> None:
    """Create a session on a lens and wait until it is RUNNING."""
    st = state(ctx)
    out = st.output(json_)
    api = st.api(out)
    record = api.create_session(lens_id)
    session_id = record["session_id"]
    if not no_wait:
        try:
            with out.spinner(f"waiting for {session_id} to be RUNNING") as spin:
                def show(rec: dict) -> None:
                    if spin is not None:
                        spin.update(f"{session_id} is {short_status(rec['session_status'])}…")
                record = api.wait_running(session_id, timeout, on_poll=show)
        except KeyboardInterrupt:
            raise Interrupted("interrupted", hint=_still_exists(session_id)) from None
        except AtaiError as exc:
            exc.hint = _still_exists(session_id)
            raise
    if quiet:
        out.text(session_id)
    elif json_:
        out.json(record)
    else:
        out.record(record, title=f"session {session_id}", fields=SUMMARY_FIELDS)
        out.info(f"next: atai stream set {session_id} --type csv_file_reader --file-id FILE; atai tail {session_id}")


def _still_exists(session_id: str) -> str:
    return (f"the session still exists: watch it with `atai session status {session_id}`"
            f" or remove it with `atai session destroy {session_id}`")


@app.command("list")
def session_list(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """List active sessions."""
    st = state(ctx)
    out = st.output(json_)
    sessions = st.api(out).list_sessions()
    rows = [{**s, "status": short_status(s.get("session_status"))} for s in sessions] if not json_ else sessions
    out.table(rows, [
        ("session_id", "SESSION ID"), ("lens_id", "LENS ID"), ("status", "STATUS"),
        ("session_duration_sec", "AGE (S)"), ("num_outputs", "OUTPUTS"),
    ], empty="no active sessions")


@app.command("status")
def session_status(ctx: typer.Context, session_id: SessionIdArg, json_: JsonOpt = False) -> None:
    """Show a session's record (session.status); the API key in it is redacted."""
    st = state(ctx)
    out = st.output(json_)
    record = st.api(out).session_status(session_id)
    if json_:
        out.json(record)
    else:
        out.record(record, title=f"session {session_id}", fields=SUMMARY_FIELDS)


@app.command("validate")
def session_validate(ctx: typer.Context, session_id: SessionIdArg, json_: JsonOpt = False) -> None:
    """Run session.validate; exits 1 when the session is not valid."""
    st = state(ctx)
    out = st.output(json_)
    reply = st.api(out).session_event(session_id, "session.validate")
    data = reply.get("event_data") if isinstance(reply.get("event_data"), dict) else {}
    if json_:
        out.json(data)
    valid = bool(data.get("is_valid"))
    if not valid:
        raise ApiError(f"session {session_id} is not valid: {'; '.join(map(str, data.get('error_messages') or [])) or 'no reason given'}")
    if not json_:
        out.text("valid")


@app.command("destroy")
def session_destroy(
    ctx: typer.Context,
    session_ids: Annotated[list[str], typer.Argument(metavar="SESSION_ID...", help="One or more session ids.", autocompletion=_complete.session_ids)],
    json_: JsonOpt = False,
) -> None:
    """Destroy one or more sessions."""
    st = state(ctx)
    out = st.output(json_)
    api = st.api(out)
    results, failures = [], []
    for session_id in session_ids:
        try:
            results.append(api.destroy_session(session_id))
            if not json_:
                out.success(f"destroyed {session_id}")
        except AtaiError as exc:
            failures.append(exc)
            if len(session_ids) > 1:
                out.error(exc.message)
    if json_:
        out.json(results)
    if failures:
        first = failures[0]
        if len(session_ids) > 1:
            first.message = f"{len(failures)} of {len(session_ids)} sessions could not be destroyed"
        raise first


@app.command("modify")
def session_modify(
    ctx: typer.Context,
    session_id: SessionIdArg,
    set_: SetOpt = None,
    config_json: ConfigJsonOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Change a running session's parameters (session.modify): focus, instruction, csv_configs..."""
    params = {**parse_json_object(config_json, "--config-json"), **parse_set(set_)}
    if not params:
        raise UsageError("nothing to modify: give --set KEY=VALUE or --config-json")
    st = state(ctx)
    out = st.output(json_)
    reply = check_valid(st.api(out).session_event(session_id, "session.modify", params), "session.modify")
    out.done(reply.get("event_data"), f"modified {session_id}: {', '.join(sorted(params))}")
