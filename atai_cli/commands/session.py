"""atai session: create, list (and watch), status, validate, destroy (one, many, by selector), modify."""

from __future__ import annotations

from typing import Annotated

import typer

from atai_cli.commands import complete
from atai_cli.commands.base import AtaiTyper
from atai_cli.commands.inputs import parse_duration, parse_json_object, parse_set
from atai_cli.commands.options import (
    ConfigJsonOpt, JsonOpt, LensIdArg, SessionIdArg, SetOpt, app_state, finite,
)
from atai_cli.errors import AtaiError, Interrupted, OperationTimeout, SomeFailed, UsageError
from atai_cli.output import Column
from atai_cli.output.formats import plural

app = AtaiTyper(help="Lens sessions: create, inspect and destroy them.")

SUMMARY_FIELDS = (
    "session_id", "lens_id", "lens_name", "session_status", "session_endpoint", "registration_timestamp",
    "session_start_timestamp", "last_event_timestamp", "num_active_connections", "num_inputs", "num_outputs",
    "num_events", "input_data_stream_id", "output_data_stream_id", "api_key",
)
SESSION_COLUMNS = (
    Column("session_id", "SESSION ID"), Column("lens_id", "LENS ID"), Column("session_status", "STATUS", "status"),
    Column("session_duration_sec", "AGE", "duration"), Column("num_outputs", "OUTPUTS"),
    Column("last_update_timestamp", "LAST UPDATE", "time"),
)


def _still_exists(session_id: str) -> str:
    return (f"the session still exists: watch it with `atai session status {session_id}`"
            f" or remove it with `atai session destroy {session_id}`")


@app.command("create")
def session_create(
    ctx: typer.Context,
    lens_id: LensIdArg,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Return at once, without waiting for RUNNING.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", metavar="S", callback=finite, min=0.1, help="How long to wait for RUNNING.")] = 60.0,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print only the session id: SID=$(atai session create LENS -q).")] = False,
    json_: JsonOpt = False,
) -> None:
    """Create a session on a lens and wait until it is RUNNING."""
    from atai_cli.protocol.status import short_status

    state = app_state(ctx)
    out, api = state.out, state.api()
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
        except OperationTimeout as exc:
            exc.hint = f"raise --timeout; {_still_exists(session_id)}"
            raise
        except AtaiError as exc:
            exc.hint = _still_exists(session_id)
            raise
    if quiet:
        out.text(session_id)
        return
    out.record(record, title=f"session {session_id}", fields=SUMMARY_FIELDS)
    out.info(f"next: atai stream set {session_id} --type csv_file_reader --file-id FILE; atai tail {session_id}")


@app.command("list")
def session_list(
    ctx: typer.Context,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Keep the list current: redrawn on a terminal, JSON lines of changes when piped.")] = False,
    interval: Annotated[float, typer.Option("--interval", metavar="S", callback=finite, min=0.1, help="Seconds between refreshes with --watch.")] = 2.0,
    json_: JsonOpt = False,
) -> None:
    """List active sessions."""
    state = app_state(ctx)
    api = state.api()
    if not watch:
        state.out.table(api.list_sessions(), SESSION_COLUMNS, empty="no active sessions")
        return
    from atai_cli.output.watch import watch_sessions

    watch_sessions(state.out, api.list_sessions, SESSION_COLUMNS, interval)


@app.command("status")
def session_status(ctx: typer.Context, session_id: SessionIdArg, json_: JsonOpt = False) -> None:
    """Show a session's record (session.status); the API key in it is redacted."""
    state = app_state(ctx)
    state.out.record(state.api().session_status(session_id), title=f"session {session_id}", fields=SUMMARY_FIELDS)


@app.command("validate")
def session_validate(ctx: typer.Context, session_id: SessionIdArg, json_: JsonOpt = False) -> None:
    """Run session.validate; exits 1 when the session is not valid."""
    state = app_state(ctx)
    result = state.api().validate_session(session_id)
    state.out.result(result.as_dict(), "valid" if result.is_valid else "not valid")
    if not result.is_valid:
        raise AtaiError(f"session {session_id} is not valid: {'; '.join(result.errors) or 'no reason given'}")


@app.command("destroy")
def session_destroy(
    ctx: typer.Context,
    session_ids: Annotated[list[str] | None, typer.Argument(metavar="SESSION_ID...", help="Sessions to destroy.",
                                                            autocompletion=complete.session_ids)] = None,
    lens: Annotated[list[str] | None, typer.Option("--lens", metavar="LENS_ID", help="Every session of this lens (repeatable).",
                                                   autocompletion=complete.lens_ids)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every session.")] = False,
    older_than: Annotated[str | None, typer.Option("--older-than", metavar="DURATION", help="Registered longer ago than this: 90s, 30m, 2h, 1d.")] = None,
    idle: Annotated[str | None, typer.Option("--idle", metavar="DURATION", help="No event for this long: 90s, 30m, 2h, 1d.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be destroyed; destroy nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (required without a terminal).")] = False,
    json_: JsonOpt = False,
) -> None:
    """Destroy sessions: by id, or every one a selector picks (--lens, --all, --older-than, --idle;
    selectors combine, all must hold). Selected sessions are listed and, on a terminal,
    confirmed first; destroys run concurrently and each failure is reported."""
    state = app_state(ctx)
    out = state.out
    ages = parse_duration(older_than, "--older-than"), parse_duration(idle, "--idle")
    selecting = bool(lens or all_ or older_than or idle)
    if session_ids and selecting:
        raise UsageError("give session ids or selectors (--lens, --all, --older-than, --idle), not both")
    if not session_ids and not selecting:
        raise UsageError("nothing to destroy: give session ids, or --lens, --all, --older-than or --idle")
    api = state.api()
    if selecting:
        for lens_id in lens or []:
            api.get_lens(lens_id)  # an unknown lens is exit 4, before anything is destroyed
        from atai_cli.client.selection import select_sessions

        chosen = select_sessions(api, lens_ids=lens or (), older_than=ages[0], idle=ages[1])
        ids = [record["session_id"] for record in chosen]
        if not ids:
            out.report([], "no session matches")
            return
        out.listing(chosen, SESSION_COLUMNS, title=f"{plural(len(ids), 'session')} to destroy:")
        if dry_run:
            out.report(chosen, f"dry run: {plural(len(ids), 'session')} would be destroyed")
            return
        if not yes:
            if not state.env.interactive:
                raise UsageError(f"refusing to destroy {plural(len(ids), 'session')} without a terminal to confirm on",
                                 hint="add --yes (or check first with --dry-run)")
            if not out.confirm(f"destroy {plural(len(ids), 'session')}?", state.env.interactive):
                raise AtaiError("nothing destroyed", hint="add --yes to skip the question")
    else:
        ids = list(session_ids or [])
        if dry_run:
            out.info(f"dry run: would destroy {', '.join(ids)}")
            return
    _destroy(state, api, ids, check_first=not selecting)


def _destroy(state, api, ids: list[str], *, check_first: bool) -> None:
    from atai_cli.client.selection import destroy_many

    out = state.out
    destroyed, failures = [], []
    for result in destroy_many(api, ids, check_first=check_first):
        session_id, error = result.session_id, result.error
        if error is None:
            destroyed.append(result.record)
            out.success(f"{session_id} was already destroyed" if result.already else f"destroyed {session_id}")
        else:
            failures.append((session_id, error))
            if len(ids) > 1:
                out.error(f"{session_id}: {error.message}")
    out.report(destroyed, f"destroyed {plural(len(destroyed), 'session')} of {len(ids)}" if len(ids) > 1 else "")
    if failures:
        if len(ids) == 1:
            raise failures[0][1]
        raise SomeFailed(f"{len(failures)} of {plural(len(ids), 'session')} could not be destroyed",
                         [error for _, error in failures])


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
    state = app_state(ctx)
    reply = state.api().modify_session(session_id, params)
    state.out.done(reply, f"modified {session_id}: {', '.join(sorted(params))}")
