"""main(argv, env): the one error boundary, run in-process with an injected environment."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from atai_cli.environment import Environment
from atai_cli.main import main


def test_main_uses_the_injected_streams_variables_and_terminals(emu):
    stdout, stderr = io.StringIO(), io.StringIO()
    env = Environment(stdin=io.StringIO(), stdout=stdout, stderr=stderr,
                      environ={"ATAI_API_ENDPOINT": emu.endpoint, "ATAI_API_KEY": emu.api_key, "XDG_CONFIG_HOME": "/nonexistent"},
                      stdout_isatty=False)
    assert main(["lens", "list"], env) == 0
    assert stdout.getvalue().splitlines()[0].startswith("LENS ID\t")  # not a terminal: tab-separated
    tty_out = io.StringIO()
    env_tty = Environment(stdin=io.StringIO(), stdout=tty_out, stderr=io.StringIO(), environ=env.environ, stdout_isatty=True)
    assert main(["lens", "list"], env_tty) == 0
    assert "LENS ID" in tty_out.getvalue() and "\t" not in tty_out.getvalue()


def test_the_injected_environment_wins_over_the_process_environment(emu, monkeypatch):
    monkeypatch.setenv("ATAI_API_KEY", "process-key-wrong")
    env = Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(),
                      environ={"ATAI_API_ENDPOINT": emu.endpoint, "ATAI_API_KEY": emu.api_key, "XDG_CONFIG_HOME": "/nonexistent"})
    assert main(["session", "list"], env) == 0


@pytest.mark.parametrize("args,needle", [
    (["lens", "lsit"], "no such command 'lsit'"),
    (["tail", "--chanel", "sse", "lsn-x"], "no such option"),
    (["tail", "lsn-x", "--channel", "bogus"], "'bogus' is not one of"),
    (["session", "create", "lns-x", "--timeout", "soon"], "--timeout"),
    (["session", "status"], "missing argument"),
])
def test_usage_errors_are_one_line_and_a_hint(cli, emu, args, needle):
    result = cli(*args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and needle.lower() in lines[0].lower(), result.stderr
    assert len(lines) == 2 and lines[1].startswith("hint: see `atai")
    assert "╭" not in result.stderr and "Traceback" not in result.stderr


def test_help_lists_choices_and_reads_like_usage(cli):
    help_text = cli("tail", "--help").stdout
    assert "auto|sse|read" in help_text
    assert "Usage: atai tail [OPTIONS] [SESSION_ID...]" in help_text
    assert "<bool>" not in help_text and "{" not in help_text.split("\n\n")[1]


def test_a_bare_group_prints_its_help(cli):
    result = cli("session")
    assert result.exit_code == 0 and "create" in result.stdout and "destroy" in result.stdout


def test_version_is_answered_before_typer_loads():
    code = "import sys; from atai_cli.main import main; main(['--version']); print('typer' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "atai" and out[-1] == "False"


# A process that runs main() as the `atai` command does; `probe` is freed only by the
# interpreter's teardown, and the exit handler is registered after atai's, as a library's is.
EXIT_PROBE = """
import atexit, sys, types
from atai_cli.main import main

class Teardown:
    def __del__(self):
        sys.stderr.write("teardown ran\\n")

probe = Teardown()
atexit.register(lambda: sys.stderr.write("exit handler ran\\n"))
sys.stdout.write("unflushed " * 20000)
if "--as-coverage" in sys.argv:
    sys.modules["coverage"] = types.ModuleType("coverage")
args = [arg for arg in sys.argv[1:] if arg != "--as-coverage"]
sys.argv = ["atai", *args]
sys.exit(main() if "--in-process" not in args else main(["lens", "lsit"]))
"""


def test_the_atai_command_exits_without_the_interpreters_teardown():
    done = subprocess.run([sys.executable, "-c", EXIT_PROBE, "lens", "lsit"], capture_output=True, text=True)
    assert done.returncode == 2 and "no such command 'lsit'" in done.stderr  # its exit code
    assert len(done.stdout) == 200000  # the streams are flushed
    assert "exit handler ran" in done.stderr  # later exit handlers run first
    assert "teardown ran" not in done.stderr


@pytest.mark.parametrize("how", [["--in-process"], ["--as-coverage", "lens", "lsit"]])
def test_runs_inside_another_program_and_under_coverage_keep_the_teardown(how):
    done = subprocess.run([sys.executable, "-c", EXIT_PROBE, *how], capture_output=True, text=True)
    assert done.returncode == 2 and len(done.stdout) == 200000
    assert "exit handler ran" in done.stderr and "teardown ran" in done.stderr


def test_an_unexpected_failure_is_one_line_and_debug_shows_the_traceback_without_the_key(cli, emu, monkeypatch):
    from atai_cli.client import api as api_module

    def explode(self, *args, **kwargs):
        raise RuntimeError(f"boom with {self.api_key}")

    monkeypatch.setattr(api_module.LensApi, "list_lenses", explode)
    plain = cli("lens", "list")
    assert plain.exit_code == 1 and "unexpected failure: RuntimeError" in plain.stderr and "Traceback" not in plain.stderr
    assert emu.api_key not in plain.stderr
    debug = cli("--debug", "lens", "list")
    assert debug.exit_code == 1 and "Traceback" in debug.stderr and emu.api_key not in debug.stderr


@pytest.mark.parametrize("stop", ["Interrupted", "Terminated"])
def test_debug_shows_no_traceback_for_a_stop_only_its_resume_hint(stop):
    from atai_cli import errors
    from atai_cli.main import report
    from atai_cli.output import Output

    stderr = io.StringIO()
    env = Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=stderr, environ={})
    try:
        raise getattr(errors, stop)("interrupted", hint="resume with --since 7")
    except errors.Interrupted as exc:
        code = report(exc, Output.for_env(env, no_color=True), debug=True)
    assert code in (130, 143) and "Traceback" not in stderr.getvalue()
    assert "resume with --since 7" in stderr.getvalue()


def test_only_the_command_being_run_is_loaded(emu):
    code = ("import sys; from atai_cli.main import main; main(['session', 'list', '--json']); "
            "print(sorted(m for m in sys.modules if m.startswith('atai_cli.commands.') or m.startswith('atai_cli.pipeline')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = eval(out.strip().splitlines()[-1])
    assert "atai_cli.commands.session" in loaded
    assert not {"atai_cli.commands.tail", "atai_cli.commands.run", "atai_cli.pipeline.fleet"} & set(loaded)


def test_only_the_subcommand_being_run_is_built(cli):
    from atai_cli.app import COMMANDS, for_command_line
    from atai_cli.commands import session

    every_session_command = [info.name for info in session.app.registered_commands]
    app = for_command_line(["--profile", "x", "session", "list", "--json"])
    assert not app.registered_commands and [info.name for info in app.registered_groups] == ["session"]
    assert [info.name for info in app.registered_groups[0].typer_instance.registered_commands] == ["list"]
    assert [info.name for info in session.app.registered_commands] == every_session_command  # a copy was pruned

    whole_group = for_command_line(["session", "--help"]).registered_groups[0].typer_instance
    assert [info.name for info in whole_group.registered_commands] == every_session_command
    unknown = for_command_line(["sesion", "list"])
    assert len(unknown.registered_commands) + len(unknown.registered_groups) == len(COMMANDS)
    # What a user sees of the pruning: nothing, even for a mistyped subcommand.
    typo = cli("session", "lst")
    assert typo.exit_code == 2 and "Did you mean 'list'?" in typo.stderr


def test_the_placeholders_say_what_the_commands_say():
    from atai_cli.app import COMMANDS, full_app

    app = full_app()
    commands = {info.name: info for info in app.registered_commands}
    groups = {info.name: info for info in app.registered_groups}
    for entry in COMMANDS:
        if entry.group:
            assert groups[entry.name].typer_instance.info.help == entry.summary, entry.name
        else:
            doc = (commands[entry.name].callback.__doc__ or "").strip().splitlines()[0]
            assert doc == entry.summary, entry.name


def test_help_is_plain_text_off_a_terminal_and_rich_on_one(cli):
    plain = cli("session", "--help")
    assert plain.exit_code == 0 and "Commands:" in plain.stdout and "╭" not in plain.stdout
    rich = cli("session", "--help", tty=True)
    assert "╭" in rich.stdout and "create" in rich.stdout
