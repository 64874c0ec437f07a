"""Terminal views at real sizes (issue 17, contract v3 "Terminal views"): atai runs under a
pseudo-terminal of a given size and its screen is read through a terminal emulator (pyte),
the way a person sees it. No test sleeps for a fixed time: each waits for a screen condition,
with a deadline."""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import sys
import termios
import threading
import time

import pyte
import pytest

from atai_cli.emulator.catalog import CAMERA_LENS_ID, SSE_LENS_ID
from atai_cli.output.state_view import MAX_LABELS, StateHistory, as_state, as_text
from atai_cli.output.tables import Column, Spec, fit, terminal_table
from conftest import SAMPLE_CSV, subprocess_env

SGR = re.compile(rb"\x1b\[[0-9;]*m")  # any colour or style code
ID = re.compile(r"lsn-[0-9a-f]{20,}")
LOOPING_CSV = {"stream_type": "csv_file_reader", "stream_config": {"file_id": "sample.csv", "loop_recording": True}}


class Terminal:
    """atai on a pseudo-terminal of COLS x ROWS, its output fed into a pyte screen."""

    def __init__(self, emu, *args: str, cols: int = 80, rows: int = 24, env: dict | None = None) -> None:
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = bytearray()
        self.settled: list[str] = []
        self.lock = threading.Lock()
        master, slave = os.openpty()
        self.master = master
        self._size(slave, cols, rows)
        environ = subprocess_env(emu, XDG_CONFIG_HOME=os.environ["XDG_CONFIG_HOME"], TERM="xterm-256color",
                                 **(env or {}))
        for name in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR"):
            if name not in (env or {}):
                environ.pop(name, None)
        self.process = subprocess.Popen([sys.executable, "-m", "atai_cli", *args], stdin=slave, stdout=slave,
                                        stderr=slave, env=environ, start_new_session=True)
        os.close(slave)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    @staticmethod
    def _size(fd: int, cols: int, rows: int) -> None:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def _read(self) -> None:
        """Feeds the screen; whenever the program has paused writing (between two frames), the
        screen is kept as the settled one that tests read, so no test sees half a redraw."""
        import select

        while True:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.02)
                if not ready:
                    with self.lock:
                        self.settled = [line.rstrip() for line in self.screen.display]
                    continue
                chunk = os.read(self.master, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                with self.lock:
                    self.settled = [line.rstrip() for line in self.screen.display]
                return
            with self.lock:
                self.raw += chunk
                self.stream.feed(chunk)

    def lines(self) -> list[str]:
        with self.lock:
            return list(self.settled)

    def text(self) -> str:
        return "\n".join(self.lines())

    def wait_for(self, condition, timeout: float = 30.0, what: str = "the screen"):
        """Until condition(lines) is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines()
            value = condition(lines)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} never showed up; the screen:\n" + "\n".join(lines))
            time.sleep(0.05)

    def resize(self, cols: int, rows: int) -> None:
        with self.lock:
            self.screen.resize(rows, cols)
        self._size(self.master, cols, rows)

    def wait_exit(self, timeout: float = 30.0) -> int:
        code = self.process.wait(timeout)
        self.reader.join(5)
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        try:
            os.close(self.master)
        except OSError:
            pass


@pytest.fixture
def terminal(emu):
    opened: list[Terminal] = []

    def start(*args: str, **kwargs) -> Terminal:
        term = Terminal(emu, *args, **kwargs)
        opened.append(term)
        return term

    yield start
    for term in opened:
        term.close()


def looping_sessions(emu, count: int, lens: str = SSE_LENS_ID) -> list[str]:
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    emu.configure(output_interval_s=0.05)
    sessions = [emu.running_session(lens) for _ in range(count)]
    for sid in sessions:
        emu.set_input_later(sid, LOOPING_CSV)
    return sessions


def session_rows(lines: list[str], sessions: list[str]) -> list[str]:
    """The session ids in the order the view's rows show them (the rows above the events)."""
    order = []
    for line in lines:
        if line.startswith("latest events"):
            break
        found = ID.match(line)
        if found and found.group(0) in sessions:
            order.append(found.group(0))
    return order


# -- tables -------------------------------------------------------------------------------

@pytest.mark.parametrize("cols", [200, 120, 80, 50])
def test_session_list_is_one_line_per_row_with_whole_ids(emu, terminal, cols):
    sessions = [emu.running_session(SSE_LENS_ID) for _ in range(4)]
    term = terminal("session", "list", cols=cols, rows=20)
    assert term.wait_exit() == 0
    lines = term.lines()
    rows = [line for line in lines if ID.match(line)]
    assert sorted(ID.match(line).group(0) for line in rows) == sorted(sessions)  # every id whole, once
    assert all(len(line) <= cols for line in lines)
    assert all("RUNNING" in line for line in rows)  # the status stays on the row's own line
    header = next(line for line in lines if line.startswith("SESSION ID"))
    if cols >= 120:
        assert "LAST UPDATE" in header and all(line.endswith("ago") for line in rows)  # relative on a terminal
    if cols <= 50:
        assert "LAST UPDATE" not in header  # the least useful column goes first


def test_a_terminal_narrower_than_the_ids_gets_the_ids_alone(emu, terminal):
    sessions = [emu.running_session(SSE_LENS_ID) for _ in range(3)]
    term = terminal("session", "list", cols=20, rows=20)
    assert term.wait_exit() == 0
    text = "".join(term.lines())  # each id folded by the terminal, never cut
    assert all(sid in text for sid in sessions)
    assert "Traceback" not in term.raw.decode(errors="replace")


def test_lens_list_fits_and_keeps_ids(emu, terminal):
    term = terminal("lens", "list", cols=60, rows=100)
    assert term.wait_exit() == 0
    lines = term.lines()
    assert all(len(line) <= 60 for line in lines)
    assert any(line.startswith("lns-1d519091822706e2-bc108andqxf8b4os ") for line in lines)


def test_off_a_terminal_tables_stay_tab_separated(cli, emu):
    sid = emu.running_session(SSE_LENS_ID)
    result = cli("session", "list")
    assert result.lines[0] == "SESSION ID\tLENS ID\tSTATUS\tAGE\tOUTPUTS\tLAST UPDATE"
    cells = result.lines[1].split("\t")
    assert cells[0] == sid and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", cells[5])


def test_fit_drops_the_least_useful_columns_and_never_the_subject():
    specs = [Spec("ID", 34, 34, 100, keep=True), Spec("A", 10, 10, 90), Spec("B", 10, 10, 30), Spec("C", 10, 10, 60)]
    assert [i for i, _ in fit(specs, 200)] == [0, 1, 2, 3]
    assert [i for i, _ in fit(specs, 34 + 3 + 10 + 3 + 10)] == [0, 1, 3]
    assert [i for i, _ in fit(specs, 40)] == [0]
    assert fit(specs, 33) is None


def test_fit_only_adds_columns_as_the_terminal_widens():
    # A wide, useful column and narrow, less useful ones: the narrow ones must not fill the
    # gap at one width only to vanish at a wider one when the wide one fits.
    specs = [Spec("ID", 35, 35, 100, keep=True), Spec("LENS ID", 37, 37, 90), Spec("STATUS", 7, 7, 80),
             Spec("AGE", 6, 6, 60), Spec("NOTE", 40, 10, 20)]
    previous: set[int] = set()
    for width in range(35, 220):
        shown = {i for i, _ in fit(specs, width)}
        assert previous <= shown, (width, previous, shown)
        previous = shown


def test_terminal_table_width_never_exceeds_the_terminal():
    from rich.console import Console
    import io

    rows = [{"session_id": f"lsn-{n:030x}", "lens_id": "lns-x", "session_status": "LensSessionStatus.SESSION_STATUS_RUNNING",
             "note": "a long free text " * 5} for n in range(3)]
    columns = [Column("session_id", "SESSION ID"), Column("lens_id", "LENS ID"), Column("session_status", "STATUS", "status"),
               Column("note", "NOTE")]
    for width in (200, 80, 60, 40):
        console = Console(file=io.StringIO(), width=width, color_system=None)
        console.print(terminal_table(rows, columns, width))
        lines = console.file.getvalue().splitlines()
        assert all(len(line) <= width for line in lines)
        assert sum(1 for line in lines if line.startswith("lsn-")) == 3


# -- live views ---------------------------------------------------------------------------

def test_fleet_rows_keep_their_order_and_whole_ids_across_frames(emu, terminal):
    sessions = looping_sessions(emu, 6)
    term = terminal("tail", "--all", "--discover-interval", "0.5", cols=120, rows=40)
    first = term.wait_for(lambda lines: (order := session_rows(lines, sessions)) and len(order) == 6 and order,
                          what="six session rows")
    seen = {tuple(first)}
    for _ in range(4):  # a few more frames, each with more events than the last
        before = term.text()
        term.wait_for(lambda lines: "\n".join(lines) != before, what="a new frame")
        order = session_rows(term.lines(), sessions)
        if len(order) == 6:
            seen.add(tuple(order))
    assert seen == {tuple(first)}
    lines = term.lines()
    events = lines[next(i for i, line in enumerate(lines) if line.startswith("latest events")) + 1:]
    assert any(ID.match(line) for line in events)
    assert all(ID.match(line).group(0) in sessions for line in events if ID.match(line))  # ids as in the rows
    assert all(len(line) <= 120 for line in lines)
    header = next(line for line in lines if line.startswith("SESSION"))
    assert "RECENT" in header  # a short strip of states per session


def test_fleet_view_redraws_at_the_new_size(emu, terminal):
    sessions = looping_sessions(emu, 3)
    term = terminal("tail", *sessions, cols=120, rows=30)
    term.wait_for(lambda lines: len(session_rows(lines, sessions)) == 3, what="three session rows")
    term.resize(60, 20)
    term.wait_for(lambda lines: any(line.startswith("SESSION") and "EV/S" not in line for line in lines)
                  and len(session_rows(lines, sessions)) == 3, what="a frame at 60 columns")


def test_state_view_shows_the_state_its_strip_and_legend(emu, terminal):
    (sid,) = looping_sessions(emu, 1)
    term = terminal("tail", sid, cols=80, rows=24)
    term.wait_for(lambda lines: any(line.startswith("recent  ") and len(line) > 14 for line in lines),
                  what="the timeline strip")
    lines = term.lines()
    strip = next(line for line in lines if line.startswith("recent  "))[8:]
    assert set(strip) <= {"L", "H"}  # one letter per label, one cell per result
    legend = next(line for line in lines if line.startswith(("L low", "H high")))
    assert "L low" in legend and "H high" in legend and "%" in legend  # the counts per label
    assert any(re.match(r"\s+(low|high)\s+0\.\d\d", line) for line in lines)  # the current state and its score
    assert any(re.match(r"(low|high)\s+[▁▂▃▄▅▆▇█]+", line) for line in lines)  # a sparkline per label
    assert all(len(line) <= 80 for line in lines)


def test_no_color_means_not_one_colour_code(emu, terminal):
    (sid,) = looping_sessions(emu, 1)
    for args, env in ((("tail", sid), {"NO_COLOR": "1"}), (("--no-color", "tail", sid), {})):
        term = terminal(*args, cols=100, rows=30, env=env)
        term.wait_for(lambda lines: any(line.startswith("recent  ") and len(line) > 12 for line in lines),
                      what="the state view")
        term.process.kill()
        term.wait_exit()
        assert not SGR.search(bytes(term.raw)), SGR.search(bytes(term.raw))
        assert "─" in term.text()  # box drawing stays


def test_colour_is_on_by_default(emu, terminal):
    (sid,) = looping_sessions(emu, 1)
    term = terminal("tail", sid, cols=100, rows=30)
    term.wait_for(lambda lines: any(line.startswith("recent  ") for line in lines), what="the state view")
    assert SGR.search(bytes(term.raw))


def test_text_results_are_wrapped_sentences_newest_first(emu, terminal):
    emu.configure(output_interval_s=0.05)
    term = terminal("run", CAMERA_LENS_ID, "--rtsp", "rtsp://127.0.0.1/cam", "--set", "target_frame_rate_hz=50",
                    cols=60, rows=24)
    lines = term.wait_for(lambda lines: sum(1 for line in lines if re.match(r"\d\d:\d\d:\d\d  Frames", line)) >= 3
                          and lines, what="three text results")
    starts = [i for i, line in enumerate(lines) if re.match(r"\d\d:\d\d:\d\d  Frames", line)]
    assert any(lines[i + 1].startswith(" " * 10) for i in starts[:-1])  # a sentence wraps under itself
    frames = [int(re.search(r"Frames (\d+)", lines[i]).group(1)) for i in starts]
    assert frames == sorted(frames, reverse=True)  # newest first
    assert not any("[\"Frames" in line for line in lines)  # not a JSON cell
    assert all(len(line) <= 60 for line in lines)


def test_svg_keeps_the_last_frame(emu, terminal, tmp_path):
    (sid,) = looping_sessions(emu, 1)
    picture = tmp_path / "state.svg"
    term = terminal("tail", sid, "--max-events", "12", "--svg", str(picture), cols=80, rows=24)
    assert term.wait_exit() == 0
    svg = picture.read_text()
    assert svg.startswith("<svg") and "recent" in svg and "low" in svg


def test_svg_into_a_missing_directory_stops_before_anything_starts(cli, emu, tmp_path):
    result = cli("tail", "lsn-nothing", "--svg", str(tmp_path / "no" / "such" / "x.svg"))
    assert result.exit_code == 2 and "no such directory" in result.stderr and "Traceback" not in result.stderr
    result = cli("run", SSE_LENS_ID, "--csv", str(SAMPLE_CSV), "--svg", str(tmp_path / "no" / "x.svg"))
    assert result.exit_code == 2
    assert emu.server.state.sessions == {} or all(s.destroyed for s in emu.server.state.sessions.values())


# -- shapes that almost match -------------------------------------------------------------

@pytest.mark.parametrize("response", [
    ["low"], ["low", {}], ["low", {"low": "high"}], ["low", {"low": True}], ["low", {"low": float("nan")}],
    ["low", {"other": 0.5}], [{"low": 0.5}], 42, None, "a sentence", [["nested"]],
])
def test_odd_results_degrade_to_text_never_an_exception(response):
    history = StateHistory()
    for _ in range(3):
        history.add({"response": response})
    assert history.kind in ("text", None)
    history.text_picture(40, 10)


def test_thousands_of_labels_are_not_a_picture():
    history = StateHistory()
    for n in range(3000):
        history.add({"response": [f"label-{n}", {f"label-{n}": 0.9}]})
    assert history.kind == "text" and len(history.labels) == MAX_LABELS
    assert history.text_picture(60, 10)


def test_state_shapes():
    assert as_state(["NORMAL", {"NORMAL": 0.9, "FAULT": 0.1}]).score == 0.9
    assert as_state(["NORMAL", {"NORMAL": "0.9"}]) is None
    assert as_text(["two", "lines"]) == "two\nlines"
    history = StateHistory()
    for label in ("NORMAL", "NORMAL", "WARNING", "FAULT", "FAULT"):
        history.add({"response": [label, {label: 0.8}]}, at=time.time())
    assert history.kind == "state"
    assert [history.labels[n].letter for n in ("NORMAL", "WARNING", "FAULT")] == ["N", "W", "F"]
    assert history.strip(10).plain == "NNWFF"
    assert len({entry.colour for entry in history.labels.values()}) == 3


def test_destroy_lists_what_it_will_destroy_in_the_same_layer(emu, terminal):
    sessions = [emu.running_session(SSE_LENS_ID) for _ in range(3)]
    term = terminal("session", "destroy", "--all", "--dry-run", cols=50, rows=20)
    assert term.wait_exit() == 0
    lines = term.lines()
    rows = [line for line in lines if ID.match(line)]
    assert sorted(ID.match(line).group(0) for line in rows) == sorted(sessions)
    assert all(len(line) <= 50 for line in lines)


def test_list_watch_keeps_rows_in_place_at_any_width(emu, terminal):
    sessions = [emu.running_session(SSE_LENS_ID) for _ in range(5)]
    term = terminal("session", "list", "--watch", "--interval", "0.2", cols=60, rows=20)
    first = term.wait_for(lambda lines: len(order := [ID.match(l).group(0) for l in lines if ID.match(l)]) == 5 and order,
                          what="five rows")
    with emu.api() as api:
        api.destroy_session(sessions[1])
    later = term.wait_for(lambda lines: len(order := [ID.match(l).group(0) for l in lines if ID.match(l)]) == 4 and order,
                          what="four rows")
    assert later == [sid for sid in first if sid != sessions[1]]
    assert all(len(line) <= 60 for line in term.lines())


def test_svg_off_a_terminal_says_there_is_nothing_to_picture(cli, emu, tmp_path):
    sid = emu.running_session(SSE_LENS_ID)
    emu.destroy_later(sid, wait_reader=True)
    result = cli("tail", sid, "--svg", str(tmp_path / "x.svg"), "--timeout", "30")
    assert result.exit_code == 0 and "no live view" in result.stderr
    assert not (tmp_path / "x.svg").exists()


# -- key/value views ----------------------------------------------------------------------

def test_lens_show_keeps_ids_whole_and_wraps_yaml_under_its_indentation(emu, terminal):
    term = terminal("lens", "show", "lns-1d519091822706e2-bc108andqxf8b4os", cols=50, rows=60)
    assert term.wait_exit() == 0
    lines = term.lines()
    assert any(re.fullmatch(r"lens_id\s+lns-1d519091822706e2-bc108andqxf8b4os", line) for line in lines)
    assert all(len(line) <= 50 for line in lines)
    item = next(i for i, line in enumerate(lines) if line.lstrip().startswith("- processor_name:"))
    indent = len(lines[item]) - len(lines[item].lstrip())
    assert lines[item + 1] == " " * (indent + 2) + "lens_timeseries_state_processor"  # a hanging indent


def test_session_status_keeps_every_id_on_one_line(emu, terminal):
    sid = emu.running_session(SSE_LENS_ID)
    for cols in (50, 80, 200):
        term = terminal("session", "status", sid, cols=cols, rows=40)
        assert term.wait_exit() == 0
        lines = term.lines()
        assert any(re.fullmatch(rf"session_id\s+{sid}", line) for line in lines)
        assert any(re.fullmatch(rf"lens_id\s+{SSE_LENS_ID}", line) for line in lines)
        assert all(len(line) <= cols for line in lines)


def test_record_lines_give_way_for_ids_and_wrap_the_rest():
    from atai_cli.output.records import record_lines, wrap

    rows = [("session_id", "lsn-" + "a" * 30, False), ("a_very_long_key_name_here", "x", False),
            ("input_data_stream_id", "csv_file_reader:sample.csv", False),
            ("session_endpoint", "ws://127.0.0.1:4000/v0.5/lens/sessions/lsn-" + "a" * 30, False)]
    lines = [line.plain for line in record_lines(rows, 50)]
    assert "input_data_stream_id  csv_file_reader:sample.csv" in lines  # the padding gave way
    assert f"session_id{' ' * 17}lsn-{'a' * 30}" in lines or f"session_id  lsn-{'a' * 30}" in lines
    assert all(len(line) <= 50 for line in lines)
    narrow = [line.plain for line in record_lines(rows, 40)]
    assert "session_id" in narrow and any(line.strip() == "lsn-" + "a" * 30 for line in narrow)  # under its key
    assert wrap("  key: one two three four", 12, 4) == ["  key: one", "    two", "    three", "    four"]


def test_short_result_reads_text_answers_as_text():
    from atai_cli.output.state_view import short_result

    assert short_result({"response": ["NORMAL", {"NORMAL": 0.934}]}) == "NORMAL 0.93"
    assert short_result({"response": ["learned NORMAL from 50 rows"]}) == "learned NORMAL from 50 rows"
    assert short_result({"response": ["Frames 1-4 of rtsp://cam", "a person walks\nin\x1b[31m"]}) == \
        "Frames 1-4 of rtsp://cam / a person walks / in [31m"
    assert short_result({"response": {"x": 1}}) is None and short_result(None) is None


def test_fleet_event_lines_show_text_answers_as_text(emu, terminal):
    emu.configure(output_interval_s=0.05)
    sessions = [emu.running_session(CAMERA_LENS_ID) for _ in range(2)]
    for sid in sessions:
        emu.set_input_later(sid, {"stream_type": "rtsp_video_reader", "stream_config": {"rtsp_url": "rtsp://cam/1"}},
                            wait_reader=False)
    term = terminal("tail", *sessions, cols=120, rows=30)
    lines = term.wait_for(lambda lines: any(ID.match(line) and "Frames" in line for line in lines) and lines,
                          what="a text result in the event lines")
    assert not any('["Frames' in line for line in lines)


def test_list_watch_redraws_cleanly_after_resizes(emu, terminal):
    sessions = [emu.running_session(SSE_LENS_ID) for _ in range(3)]
    term = terminal("session", "list", "--watch", "--interval", "0.2", cols=200, rows=50)
    term.wait_for(lambda lines: len([l for l in lines if ID.match(l)]) == 3, what="three rows")
    for cols, rows in ((50, 20), (80, 24), (200, 50)):
        term.resize(cols, rows)
        lines = term.wait_for(lambda lines: len(lines) == rows and all(len(l) <= cols for l in lines)
                              and any(l.startswith("SESSION ID") for l in lines)
                              and sum(1 for l in lines if l.startswith("sessions (")) == 1
                              and sorted(ID.match(l).group(0) for l in lines if ID.match(l)) == sorted(sessions)
                              and lines, what=f"one clean frame at {cols}x{rows}")
        assert sum(1 for line in lines if line.startswith("SESSION ID")) == 1


def test_list_watch_says_how_many_sessions_it_cannot_show(emu, terminal):
    sessions = [emu.running_session(SSE_LENS_ID) for _ in range(20)]
    term = terminal("session", "list", "--watch", "--interval", "0.2", cols=50, rows=20)
    lines = term.wait_for(lambda lines: any(re.fullmatch(r"… \d+ more sessions", l) for l in lines) and lines,
                          what="how many more")
    shown = [ID.match(l).group(0) for l in lines if ID.match(l)]
    hidden = int(re.search(r"… (\d+) more", "\n".join(lines)).group(1))
    assert len(shown) + hidden == len(sessions) and not any(l.strip() == "..." for l in lines)


@pytest.mark.skipif(not __import__("shutil").which("tmux"), reason="needs tmux (a terminal that reflows on resize)")
def test_list_watch_leaves_no_old_frame_in_a_reflowing_terminal(emu, tmp_path):
    """pyte does not reflow a resized screen; tmux does, as real terminals do, which is what left
    an old frame behind."""
    import shlex

    sessions = [emu.running_session(SSE_LENS_ID) for _ in range(3)]
    env = subprocess_env(emu, XDG_CONFIG_HOME=os.environ["XDG_CONFIG_HOME"], TERM="xterm-256color")
    for name in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR"):
        env.pop(name, None)
    command = " ".join(["env", "-i", *(shlex.quote(f"{k}={v}") for k, v in env.items()),
                        shlex.quote(sys.executable), "-m", "atai_cli", "session", "list", "--watch", "--interval", "0.2"])
    tmux = ["tmux", "-S", str(tmp_path / "tmux.sock")]
    subprocess.run([*tmux, "new-session", "-d", "-s", "w", "-x", "200", "-y", "50", command], check=True)
    try:
        def screen() -> list[str]:
            return subprocess.run([*tmux, "capture-pane", "-p", "-t", "w"], capture_output=True, text=True).stdout.splitlines()

        def settled(cols: int) -> list[str]:
            deadline = time.monotonic() + 20
            while True:
                lines = screen()
                if (sorted(ID.match(l).group(0) for l in lines if ID.match(l)) == sorted(sessions)
                        and all(len(l) <= cols for l in lines)) or time.monotonic() > deadline:
                    time.sleep(0.6)  # a few more frames
                    return screen()
                time.sleep(0.05)

        settled(200)
        for cols, rows in ((50, 20), (80, 24), (200, 50)):
            subprocess.run([*tmux, "resize-window", "-t", "w", "-x", str(cols), "-y", str(rows)], check=True)
            lines = settled(cols)
            assert sum(1 for l in lines if l.startswith("sessions (")) == 1, "\n".join(lines)
            assert len([l for l in lines if ID.match(l)]) == 3, "\n".join(lines)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


@pytest.mark.parametrize("width", [50, 80, 200])
@pytest.mark.parametrize("labels", [("NORMAL", "FAULT"), ("ok", "a-rather-long-label-name-here", "x")])
def test_the_strip_and_every_sparkline_line_up_cell_for_cell(width, labels):
    history = StateHistory()
    for n in range(400):  # more results than any width holds
        label = labels[n % 7 % len(labels)]
        history.add({"response": [label, {name: (0.9 if name == label else 0.05) for name in labels}]}, at=1000.0 + n)
    lines = [line.plain for line in history.picture(width, 40, now=1400.0)]
    strip = next(line for line in lines if line.startswith("recent "))
    start = len(strip) - len(strip[6:].lstrip())
    sparks = [line for line in lines if re.search(r"[▁▂▃▄▅▆▇█]{5}", line)]
    assert len(sparks) == len(labels)
    for line in sparks:
        bars = re.search(r"[▁▂▃▄▅▆▇█]+", line)
        assert bars.start() == start and bars.end() == len(strip)  # the same columns as the strip
        assert len(line) <= width
    letters = {history.labels[name].letter: name for name in labels}
    for k, letter in enumerate(strip[start:]):  # cell k is the same result in the strip and the sparklines
        name = letters[letter]
        line = sparks[list(history.labels).index(name)]
        assert line[start + k] == "█"


def test_the_legend_lists_every_label_in_whole_entries():
    labels = ("NORMAL", "WARNING", "FAULT", "CALIBRATING", "a-label-far-too-long-for-any-narrow-terminal-line")
    history = StateHistory()
    for n in range(50):
        label = labels[n % len(labels)]
        history.add({"response": [label, {label: 0.8}]}, at=1000.0 + n)
    for width in (30, 50, 80, 200):
        legend = [line.plain for line in history.legend(width, 1050.0)]
        assert all(len(line) <= width for line in legend)
        entries = [entry for line in legend for entry in line.split("   ")]
        assert [entry.split(" ")[1] for entry in entries[:4]] == list(labels[:4])  # each whole, in order
        assert all(re.fullmatch(r"\S \S+ \d+ \(\d+%\) \S+", entry) for entry in entries[:4])
        assert entries[4].startswith("A a-label") and (len(entries[4]) < width or entries[4].endswith("…"))
    assert len(history.legend(200, 1050.0)) == 1 and len(history.legend(50, 1050.0)) > 2


def test_a_session_destroyed_before_its_first_event_says_it_ended(emu, terminal):
    sid = emu.running_session(SSE_LENS_ID)
    term = terminal("tail", sid, cols=80, rows=24)
    term.wait_for(lambda lines: any("waiting for the first event" in line for line in lines), what="waiting")
    with emu.api() as api:
        api.destroy_session(sid)
    term.wait_exit()
    text = term.text()
    assert "no events: the session ended" in text and "waiting for the first event" not in text


def test_a_fleet_whose_sessions_all_ended_says_so():
    import io

    from rich.console import Console

    from atai_cli.output.fleet_view import FleetView
    from atai_cli.pipeline.fleet import SessionOutcome

    console = Console(file=io.StringIO(), width=100, height=30, record=True, color_system=None)
    view = FleetView(console, session_ids=["lsn-a", "lsn-b"])
    console.print(view.render())
    assert "waiting for the first event" in console.export_text()
    for sid in ("lsn-a", "lsn-b"):
        view.session_ended(SessionOutcome(sid, reason="destroyed"))
    console.print(view.render())
    text = console.export_text()
    assert "no events: every session ended" in text and "waiting" not in text


@pytest.mark.parametrize("stamp", [1e20, float("inf"), float("nan"), -5, "soon"])
def test_an_implausible_event_time_falls_back_to_the_arrival_time(stamp):
    import time

    from atai_cli.output.live import EventRows, event_time
    from atai_cli.output.state_view import StateHistory
    from atai_cli.protocol.events import OutputEvent

    message = {"type": "inference.result", "timestamp": stamp, "data": {"response": ["ok", {"ok": 0.9}]}}
    event = OutputEvent("read", "1", "inference.result", "inference.result", message, session_id="lsn-x")
    assert abs(event_time(event) - time.time()) < 5
    EventRows().add(event)  # no OverflowError from the clock
    StateHistory().add(event.payload, at=event_time(event))


def test_a_yaml_line_indented_past_the_width_still_wraps_within_it():
    from atai_cli.output.records import wrap

    for width in (1, 5, 9, 12, 20):
        lines = wrap(" " * 30 + "key: a-long-value-with/slashes and words", width, hang=32)
        assert lines and all(len(line) <= width for line in lines)
        assert "".join(line.strip() for line in lines).replace(" ", "") == "key:a-long-value-with/slashesandwords"
