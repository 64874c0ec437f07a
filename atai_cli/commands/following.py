"""What `atai tail` and `atai run` share: the follow flags turned into a fleet (filters, sinks,
cursors, recorder, view), and the fleet's result turned into the closing line or the error
with its exit code and resume hint."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Callable, Iterator

from atai_cli.errors import AtaiError, Interrupted, NetworkError, OperationTimeout, Terminated, UsageError
from atai_cli.output.formats import plural
from atai_cli.output.jsonl import SHAPE_DATA, SHAPE_FLEET, SHAPE_META
from atai_cli.pipeline.follow_options import FollowFlags, FollowOptions
from atai_cli.protocol.stops import StopReason

FEW_SESSIONS = 3  # more sessions than this to resume one by one: suggest --cursor-file for next time


class Follow:
    """One follow, built and checked before anything starts (bad flags exit 2 up front)."""

    def __init__(self, state, flags: FollowFlags, *, fleet_mode: bool, command: str = "atai tail") -> None:
        from atai_cli.pipeline.cursors import CursorStore
        from atai_cli.pipeline.filters import EventFilter
        from atai_cli.pipeline.recorder import Recorder

        state.settings  # loaded first: bad settings stop here, and the key joins the secrets kept out
        self.state = state
        self.flags = flags
        self.fleet_mode = fleet_mode
        self.command = command
        self.filter = EventFilter(envelope=flags.envelope, types=flags.types, changes_only=flags.changes_only,
                                  warn=state.out.warn)
        self.forward_target = self.broker = None
        if flags.forward_to is not None and not flags.forward_to.strip():
            raise UsageError("--forward-to needs a URL (http://127.0.0.1:PORT/PATH or https://...)")
        if flags.record_append and not flags.record:
            raise UsageError("--record-append adds to the recording named by --record FILE: give --record too")
        if flags.forward_to:
            from atai_cli.client.forward_targets import broker_settings, parse_target

            self.forward_target = parse_target(flags.forward_to, flags.insecure_forward)
            state.keep_secret(self.forward_target.password)
            self.broker = broker_settings(state.settings, state.env.environ)
            if self.forward_target.kind != "http":
                from atai_cli.client.forwarder import require_extra

                require_extra(self.forward_target.kind)  # exit 2 naming the extra, before anything starts
        # Known before the recorder and --exec are told which secrets to keep out.
        self.forward_secret = state.forward_secret(flags.forward_secret) if flags.forward_to else None
        self.cursor_path = Path(flags.cursor_file) if flags.cursor_file else None
        self.cursors = CursorStore(self.cursor_path, warn=state.out.warn)
        try:
            self.recorder = Recorder(Path(flags.record), append=flags.record_append, secrets=state.secrets()) if flags.record else None
        except BaseException:
            self.cursors.release()
            raise
        out = state.out
        if fleet_mode:
            self.shape = SHAPE_FLEET
        else:
            self.shape = SHAPE_META if flags.meta else SHAPE_DATA
        self.live = out.mode == "tty" and not flags.meta
        if flags.svg and not self.live:
            out.warn(f"--svg {flags.svg}: there is no live view to picture (it needs a terminal, without --meta/--json)")
        self.view = None
        self.result = None

    # -- building -----------------------------------------------------------------------
    def _view(self, session_ids: list[str]):
        if not self.live:
            return None
        if self.fleet_mode:
            from atai_cli.output.fleet_view import FleetView

            return FleetView(self.state.out.console, svg=self.flags.svg, session_ids=session_ids)
        from atai_cli.output.live import LiveView

        return LiveView(self.state.out.console, session_ids[0] if session_ids else "", svg=self.flags.svg)

    def _sinks(self, report: Callable[[str], None]) -> list:
        from atai_cli.pipeline.sinks import ExecSink, ForwardSink, StdoutSink, ViewSink

        state, flags = self.state, self.flags
        # Lines are batched up to each network read; with a receiver or a command, each line is
        # flushed at once, as soon as they have taken it.
        batched = self.view is None and not (flags.forward_to or flags.exec_)
        if batched:
            self.cursors.auto_commit = False  # a cursor is saved only past lines out of the buffer
        # stdout (or the view) comes last: an event is printed once the receiver has it and the
        # command has run, so a stop while they hold one leaves it unprinted, and the restart,
        # which resumes before it, prints it once.
        shown = (ViewSink(self.view) if self.view is not None
                 else StdoutSink(state.out.jsonl(batched=batched), state.out.warn,
                                 on_flushed=self.cursors.commit if batched and self.cursor_path else None))
        sinks: list = []
        if flags.forward_to:
            from atai_cli.client.forwarder import make_forwarder

            forward = ForwardSink(make_forwarder(flags.forward_to, self.forward_secret, timeout=flags.forward_timeout,
                                                 insecure=flags.insecure_forward, broker=self.broker,
                                                 trace=state.out.trace if state.debug else None), report)
            self.cursors = forward.hold_cursors(self.cursors)  # a broker's cursor moves on its acks
            sinks.append(forward)
        if flags.exec_:
            sinks.append(ExecSink(flags.exec_, state.env.environ, state.secrets(),
                                  state.env.stderr if self.view is None else None, report))
        return [*sinks, shown]

    def run(self, api, session_ids: list[str], *, discover=None, on_open=None):
        from atai_cli.client.mailbox_follower import new_client_id
        from atai_cli.output.jsonl import pipe_reader_gone
        from atai_cli.output.reporters import FleetLines, SingleSessionLines
        from atai_cli.pipeline.cursors import gone_sessions
        from atai_cli.pipeline.fleet import Fleet

        state, flags = self.state, self.flags
        self.view = view = self._view(session_ids)
        reporter = view or (FleetLines(state.out) if self.fleet_mode else SingleSessionLines(state.out))
        report = view.log if view is not None else state.out.line
        self.sinks = sinks = self._sinks(report)
        records = self._check_recording(api, session_ids) if self.recorder is not None and not discover else {}
        options = FollowOptions.resolve(flags, client_id=flags.client_id or new_client_id(), shape=self.shape)
        fleet = Fleet(api, options, sinks=sinks, reporter=reporter, filter=self.filter, cursors=self.cursors,
                      recorder=self.recorder, discover=discover, on_open=on_open,
                      stdout_gone=None if view is not None else pipe_reader_gone(state.env.stdout))
        if view is not None:
            state.notices = view.log  # a long REST retry is said inside the view, not across it
        try:
            with _worker_stacks(), _sigterm_stops(fleet):
                for sid, record in records.items():
                    fleet.add(sid, record)
                with view if view is not None else nullcontext():
                    self.result = fleet.run(session_ids)
            self.cursors.forget(gone_sessions(self.result.outcomes))
        finally:
            state.notices = None
            self.cursors.release()
        return self.result

    def _check_recording(self, api, session_ids: list[str]) -> dict[str, dict]:
        """Appending to a recording: each session must be the recorded one on the same lens and
        channel, checked before anything starts (exit 2). The records are reused."""
        from atai_cli.protocol.channels import choose_channel

        recorder = self.recorder
        recorder.expect(session_ids)
        if not recorder.recorded_sessions:
            return {}
        records = {}
        for sid in session_ids:
            record = api.session_status(sid)
            channel, _ = choose_channel(record.get("lens_config"), self.flags.channel)
            recorder.check(sid, record.get("lens_id"), channel)
            records[sid] = record
        return records

    # -- concluding -------------------------------------------------------------------------
    def resume_hint(self, outcome=None, *, destroyed: bool = False) -> str:
        if destroyed:
            return f"{self.command} destroyed the session; run it with --keep to keep the session and resume it"
        recording = f" --record {self.recorder.path} --record-append" if self.recorder is not None else ""
        if self.cursor_path is not None:
            again = "run the same command again" + (" with --record-append" if recording else "")
            return f"{again}: --cursor-file {self.cursor_path} resumes each session where it stopped"
        if outcome is None:
            return self._fleet_resume_hint(recording)
        return f"resume with: {self._resume_command(outcome.session_id)}{recording}"

    def _resume_command(self, session_id: str) -> str:
        from atai_cli.pipeline.cursors import resume_since

        since = resume_since(self.cursors.get(session_id), self.cursors.first_seen(session_id))
        return f"atai tail {session_id}" + (f" --since {since}" if since else "")

    def _fleet_resume_hint(self, recording: str) -> str:
        """Without a cursor file a fleet is resumed one session at a time (--since is per
        session): every session's command, so the hint loses nothing, however many there are."""
        outcomes = self.result.outcomes if self.result is not None else []
        commands = [self._resume_command(o.session_id) + recording for o in outcomes]
        if not commands:
            return "add --cursor-file FILE to resume every session where it stopped"
        if len(commands) == 1:
            return (f"resume each session with: {commands[0]}"
                    " (or run the fleet with --cursor-file FILE, which resumes every session at once)")
        # One command a line, so each can be copied whole and none wraps into the next.
        listing = "resume each session with:\n" + "\n".join(f"  {command}" for command in commands)
        if len(commands) > FEW_SESSIONS:
            return listing + ("\nnext time, run the fleet with --cursor-file FILE: the same command then resumes"
                              " every session where it stopped")
        return listing + "\n(or run the fleet with --cursor-file FILE, which resumes every session at once)"

    def conclude(self, *, destroyed: bool = False) -> None:
        """The closing line, or the error for how the follow ended."""
        result = self.result
        out = self.state.out
        if result.stopped_by is StopReason.STDOUT_CLOSED:
            return  # the reader went away (`| head`): a quiet, clean end
        for sink in self.sinks:
            line = sink.summary()
            if line:
                out.info(line)
        if self.recorder is not None:
            out.info(f"recorded {plural(self.recorder.written, 'event')} to {self.recorder.path}")
        for outcome in result.outcomes:
            if outcome.unread and self.flags.client_id:  # a reader of this run's own is never reused
                out.warn(f"{outcome.session_id}: {plural(outcome.unread, 'mailbox message')} read but not printed; "
                         f"the server's cursor for --client-id {self.flags.client_id} is past them "
                         f"(the resume hint, or --cursor-file, keeps them for the next run)")
        if self.fleet_mode:
            self._conclude_fleet(result, destroyed)
        else:
            self._conclude_single(result, destroyed)
        rejected = [s for s in self.sinks if s.failed]
        if rejected:
            raise AtaiError(rejected[0].summary() or "some events were rejected", hint=rejected[0].failure_hint)

    def _conclude_single(self, result, destroyed: bool) -> None:
        outcome = result.outcomes[0]
        printed = plural(outcome.events, "event")
        hint = self.resume_hint(outcome, destroyed=destroyed)
        if result.stopped_by in (StopReason.INTERRUPTED, StopReason.TERMINATED):
            raise _interruption(result.stopped_by, f"after {printed}", hint)
        if result.stopped_by is StopReason.TIMEOUT:
            raise OperationTimeout(f"--timeout {self.flags.timeout:g}s reached after {printed}; the stream had not ended", hint=hint)
        if outcome.failed:
            error = outcome.error
            if isinstance(error, AtaiError):
                if isinstance(error, NetworkError) and error.hint is None:
                    error.hint = hint
                _add_channel_hint(error)
                raise error
            raise error  # type: ignore[misc]
        if result.stopped_by is StopReason.MAX_EVENTS:
            self.state.out.info(f"stopped after {printed} (--max-events)")
        elif result.stopped_by is StopReason.IDLE:
            self.state.out.info(f"stopped after {printed}: no lens output for {self.flags.idle_exit:g}s (--idle-exit)")
        else:
            self.state.out.info(f"stream ended after {printed}: {outcome.reason or 'done'}")

    def _conclude_fleet(self, result, destroyed: bool) -> None:
        out = self.state.out
        failed = [o for o in result.outcomes if o.failed]
        total = plural(result.printed, "event")
        sessions = plural(len(result.outcomes), "session")
        if result.stopped_by in (StopReason.INTERRUPTED, StopReason.TERMINATED):
            raise _interruption(result.stopped_by, f"after {total} from {sessions}", self.resume_hint())
        if result.stopped_by is StopReason.TIMEOUT:
            raise OperationTimeout(f"--timeout {self.flags.timeout:g}s reached after {total} from {sessions}",
                                   hint=self.resume_hint())
        ended = len(result.outcomes) - len(failed)
        how = ""
        if result.stopped_by is StopReason.MAX_EVENTS:
            how = " (--max-events)"
        elif result.stopped_by is StopReason.IDLE:
            how = f" (no lens output for {self.flags.idle_exit:g}s, --idle-exit)"
        out.info(f"followed {sessions}: {ended} ended, {len(failed)} failed, {total}{how}")
        if failed:
            for outcome in failed:
                out.error(f"{outcome.session_id}: {outcome.reason}")
            names = ", ".join(o.session_id for o in failed[:5]) + (" …" if len(failed) > 5 else "")
            raise AtaiError(f"{len(failed)} of {sessions} failed: {names}", hint="each reason is on a line above")


def _interruption(how: StopReason, after: str, hint: str) -> Interrupted:
    kind = Terminated if how is StopReason.TERMINATED else Interrupted
    return kind(f"{how} {after}", hint=hint)


@contextmanager
def _sigterm_stops(fleet) -> Iterator[None]:
    """While following, SIGTERM stops like Ctrl-C (cursors saved, recording closed; exit 143).
    The handler only asks the fleet to stop; signals reach the main thread only, so elsewhere
    (a test running main() in a thread) SIGTERM keeps its own meaning."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: fleet.request_stop(StopReason.TERMINATED))
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _worker_stacks() -> Iterator[None]:
    """Every thread started while following gets a follower's small stack. threading.stack_size
    is process-wide, so it is set here, once per follow, by the command, and put back after;
    the threads started meanwhile are the fleet's own (workers, discovery)."""
    from atai_cli.pipeline.worker import WORKER_STACK_SIZE

    previous = threading.stack_size(WORKER_STACK_SIZE)
    try:
        yield
    finally:
        threading.stack_size(previous)


def _add_channel_hint(error: AtaiError) -> None:
    from atai_cli.client.sse_follower import NotAnEventStream

    if isinstance(error, NotAnEventStream) and error.hint is None:
        error.hint = "is the endpoint right, and does this session use the SSE channel? try --channel read"
