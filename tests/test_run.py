"""atai run: the one-call flow, against the emulator."""

from __future__ import annotations

import json
import signal

from atai_cli.emulator.catalog import CAMERA_LENS_ID, MAILBOX_LENS_ID, SSE_LENS_ID
from conftest import SAMPLE_CSV, atai_process


def active_sessions(emu):
    return [s for s in emu.server.state.sessions.values() if not s.destroyed]


def test_run_csv_prints_results_and_leaves_nothing_behind(cli, emu):
    emu.configure(idle_timeout_s=0.3)
    result = cli("run", SSE_LENS_ID, "--csv", str(SAMPLE_CSV))
    assert result.exit_code == 0, result.stderr
    indexes = [json.loads(l)["event_data"]["query_metadata"]["query_metadata"]["read_index"] for l in result.lines]
    assert indexes == [0, 10, 20, 30, 40, 50]
    assert active_sessions(emu) == []
    assert "destroyed" in result.stderr


def test_run_attaches_an_sse_writer_to_a_mailbox_lens(cli, emu):
    emu.configure(idle_timeout_s=0.3)
    result = cli("run", MAILBOX_LENS_ID, "--csv", str(SAMPLE_CSV), "--max-events", "3", "--meta")
    assert result.exit_code == 0, result.stderr
    assert [json.loads(l)["channel"] for l in result.lines] == ["sse"] * 3
    assert "attached server_sent_events_writer" in result.stderr
    assert active_sessions(emu) == []


def test_run_keep_leaves_the_session(cli, emu):
    emu.configure(idle_timeout_s=0.3)
    result = cli("run", SSE_LENS_ID, "--csv", str(SAMPLE_CSV), "--keep")
    assert result.exit_code == 0
    kept = active_sessions(emu)
    assert len(kept) == 1 and kept[0].session_id in result.stderr


def test_run_rejected_input_still_destroys(cli, emu):
    result = cli("run", SSE_LENS_ID, "--file-id", "never-uploaded.csv")
    assert result.exit_code == 4 and "Input stream is unhealthy!" in result.stderr
    assert active_sessions(emu) == []


def test_run_rtsp_with_max_events(cli, emu):
    result = cli("run", CAMERA_LENS_ID, "--rtsp", "rtsp://cam/1", "--max-events", "2")
    assert result.exit_code == 0 and len(result.lines) == 2
    assert "Frames 0-4 of rtsp://cam/1" in result.lines[0]
    assert active_sessions(emu) == []


def test_run_needs_exactly_one_input(cli, emu):
    assert cli("run", SSE_LENS_ID).exit_code == 2
    assert cli("run", SSE_LENS_ID, "--csv", str(SAMPLE_CSV), "--rtsp", "rtsp://x").exit_code == 2
    assert cli("run", SSE_LENS_ID, "--csv", "/nope.csv").exit_code == 2
    assert cli("run", "lns-nope", "--rtsp", "rtsp://cam").exit_code == 4


def test_run_interrupted_destroys_the_session(emu):
    emu.configure(idle_timeout_s=0, output_interval_s=0.2)
    proc = atai_process(emu, "run", SSE_LENS_ID, "--csv", str(SAMPLE_CSV))
    assert json.loads(proc.stdout.readline())["type"] == "inference.result"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    stderr = proc.stderr.read()
    assert "Traceback" not in stderr and "destroyed lsn-" in stderr
    assert active_sessions(emu) == []


def test_run_follows_a_lens_that_declares_its_own_input(cli, emu, tmp_path):
    emu.upload("sample.csv", SAMPLE_CSV.read_bytes())
    lens = tmp_path / "lens.yaml"
    lens.write_text(
        "lens_name: declared input\n"
        "lens_config:\n"
        "  model_pipeline:\n    - processor_name: lens_timeseries_state_processor\n"
        "  input_streams:\n    - stream_type: csv_file_reader\n      stream_config: {file_id: sample.csv}\n"
        "  output_streams:\n    - stream_type: server_sent_events_writer\n"
    )
    lens_id = cli("lens", "register", str(lens), "-q").stdout.strip()
    result = cli("run", lens_id, "--idle-exit", "1")
    assert result.exit_code == 0, result.stderr
    indexes = [json.loads(l)["event_data"]["query_metadata"]["query_metadata"]["read_index"] for l in result.lines]
    assert indexes == [0, 10, 20, 30, 40, 50]
    assert "declared by the lens" in result.stderr
    assert active_sessions(emu) == []


def test_run_with_no_input_on_a_lens_without_one_says_so(cli, emu):
    result = cli("run", SSE_LENS_ID)
    assert result.exit_code == 2 and "declares no input_streams" in result.stderr


def test_run_says_it_destroyed_the_session_and_suggests_keep(emu):
    emu.configure(idle_timeout_s=0, output_interval_s=0.2)
    proc = atai_process(emu, "run", SSE_LENS_ID, "--csv", str(SAMPLE_CSV))
    assert json.loads(proc.stdout.readline())
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    stderr = proc.stderr.read()
    assert "--since" not in stderr and "run it with --keep" in stderr


def test_run_with_a_file_stops_when_its_results_stop_coming(cli, emu):
    emu.configure(idle_timeout_s=0)  # the server never ends the stream itself
    result = cli("run", SSE_LENS_ID, "--csv", str(SAMPLE_CSV), "--idle-exit", "0.5")
    assert result.exit_code == 0, result.stderr
    assert len(result.lines) == 6 and "no lens output for 0.5s (--idle-exit)" in result.stderr
    assert "default 10 for a file input" in cli("run", "--help").stdout
