"""Input and output stream types (lens-api.md 2.4), shared by the client, which builds
`input_stream.set` / `output_stream.set` events, and the emulator, which validates them.

One definition of every type name and of what a valid `stream_config` holds, so the CLI
refuses locally what the server would refuse, and the emulator refuses what the CLI would.
"""

from __future__ import annotations

import re
from typing import Any

CSV_READER = "csv_file_reader"
VIDEO_READER = "video_file_reader"
JSONL_READER = "jsonl_file_reader"
RTSP_READER = "rtsp_video_reader"
RTSP_STREAMER = "rtsp_video_streamer"  # the docs' older name for RTSP_READER
SENSOR_STREAMER = "sensor_streamer"  # data arrives with session.update
SYNTHETIC_READER = "synthetic_reader"  # emulator-only: benchmarks

FILE_READERS = frozenset({CSV_READER, VIDEO_READER, JSONL_READER})
RTSP_READERS = frozenset({RTSP_READER, RTSP_STREAMER})
KAFKA_READER = "kafka_reader"  # documented (lens-api.md 10); not emulated
INPUT_TYPES = FILE_READERS | RTSP_READERS | {SENSOR_STREAMER}
KNOWN_INPUT_TYPES = INPUT_TYPES | {KAFKA_READER}

SSE_WRITER = "server_sent_events_writer"
SSE_WRITER_ALIAS = "server_side_events_writer"  # the spelling output_stream.set examples use
SSE_WRITERS = frozenset({SSE_WRITER, SSE_WRITER_ALIAS})
KAFKA_WRITER = "kafka_writer"
OUTPUT_TYPES = SSE_WRITERS | {KAFKA_WRITER}

# Which reader a local file or a file id goes to, by extension.
READER_BY_SUFFIX = {
    ".csv": CSV_READER, ".tsv": CSV_READER,
    ".jsonl": JSONL_READER, ".ndjson": JSONL_READER, ".json": JSONL_READER,
    ".mp4": VIDEO_READER, ".mov": VIDEO_READER, ".mkv": VIDEO_READER, ".avi": VIDEO_READER, ".webm": VIDEO_READER,
}

_RTSP_URL = re.compile(r"^rtsps?://\S+$")
_POSITIVE_INTS = ("window_size", "step_size")


def reader_for(name: str, default: str = VIDEO_READER) -> str:
    """The reader for a file name, by its extension."""
    suffix = name[name.rfind("."):].lower() if "." in name else ""
    return READER_BY_SUFFIX.get(suffix, default)


def is_rtsp_url(value: Any) -> bool:
    return isinstance(value, str) and bool(_RTSP_URL.match(value))


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def input_problems(stream_type: Any, config: Any) -> list[str]:
    """What is wrong with an input_stream.set event, as the server would say it; [] when valid."""
    if not isinstance(stream_type, str) or not stream_type:
        return ["stream_type (a string) is required"]
    if not isinstance(config, dict):
        return ["stream_config must be an object"]
    problems: list[str] = []
    if stream_type in FILE_READERS:
        file_id = config.get("file_id")
        if not isinstance(file_id, str) or not file_id:
            problems.append(f"{stream_type} needs stream_config.file_id (an uploaded file's id)")
    if stream_type in RTSP_READERS and not is_rtsp_url(config.get("rtsp_url")):
        problems.append("stream_config.rtsp_url must be an rtsp:// URL")
    for key in _POSITIVE_INTS:
        if key in config and not _positive_int(config[key]):
            problems.append(f"stream_config.{key} must be a positive integer, got {config[key]!r}")
    if "target_frame_rate_hz" in config and not _positive_number(config["target_frame_rate_hz"]):
        problems.append(f"stream_config.target_frame_rate_hz must be a positive number, got {config['target_frame_rate_hz']!r}")
    if "target_image_size" in config:
        size = config["target_image_size"]
        if not (isinstance(size, list) and len(size) == 2 and all(_positive_int(v) for v in size)):
            problems.append(f"stream_config.target_image_size must be [height, width] in pixels, got {size!r}")
    for key in ("loop_recording", "cut_off_incomplete_window"):
        if key in config and not isinstance(config[key], (bool, int)):
            problems.append(f"stream_config.{key} must be true or false, got {config[key]!r}")
    if "output_format" in config and config["output_format"] not in ("", "json"):
        problems.append(f"stream_config.output_format must be \"\" or \"json\", got {config['output_format']!r}")
    if stream_type == SYNTHETIC_READER:
        problems += _synthetic_problems(config)
    return problems


def _synthetic_problems(config: dict) -> list[str]:
    def count(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    problems = [f"stream_config.{key} must be a whole number >= 0, got {config[key]!r}"
                for key in ("count", "payload_bytes") if key in config and not count(config[key])]
    rate = config.get("rate_hz", 0)
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or rate < 0:
        problems.append(f"stream_config.rate_hz must be a number >= 0, got {rate!r}")
    if "end" in config and not isinstance(config["end"], bool):
        problems.append(f"stream_config.end must be true or false, got {config['end']!r}")
    return problems


def output_problems(stream_type: Any, config: Any) -> list[str]:
    if not isinstance(stream_type, str) or stream_type not in OUTPUT_TYPES:
        return [f"Unknown output stream_type: {stream_type!r}"]
    if config is not None and not isinstance(config, dict):
        return ["stream_config must be an object"]
    return []


def parse_image_size(text: str) -> list[int] | None:
    """`360x640` -> [360, 640]; None when it is not HEIGHTxWIDTH with both above 0."""
    match = re.fullmatch(r"(\d+)[xX](\d+)", text.strip())
    if not match or 0 in (int(match[1]), int(match[2])):
        return None
    return [int(match[1]), int(match[2])]


def input_config(stream_type: str, *, file_id: str | None = None, rtsp_url: str | None = None,
                 size: str | None = None, fps: float | None = None, extra: dict | None = None) -> dict:
    """The stream_config of an input_stream.set, checked before anything is sent: a usage
    error for what the server would refuse."""
    from atai_cli.errors import UsageError

    config: dict = {}
    if file_id:
        config["file_id"] = file_id
    if rtsp_url:
        if not is_rtsp_url(rtsp_url):
            raise UsageError(f"the RTSP URL (--rtsp-url) must be rtsp://..., got {rtsp_url!r}")
        config["rtsp_url"] = rtsp_url
    if size:
        parsed = parse_image_size(size)
        if parsed is None:
            raise UsageError(f"the image size (--size) must be HEIGHTxWIDTH, e.g. 360x640, got {size!r}")
        config["target_image_size"] = parsed
    if fps is not None:
        if fps <= 0:
            raise UsageError("the frame rate (--fps) must be greater than 0")
        config["target_frame_rate_hz"] = fps
    config.update(extra or {})
    if stream_type in RTSP_READERS and not config.get("rtsp_url"):
        raise UsageError(f"{stream_type} needs an rtsp:// URL (--rtsp-url)")
    if stream_type in FILE_READERS and not config.get("file_id"):
        raise UsageError(f"{stream_type} needs a file id (--file-id; upload one with `atai files upload PATH`)")
    problems = input_problems(stream_type, config)
    if problems:
        raise UsageError("; ".join(problems))
    return config


def stream_event(stream_type: str, config: dict | None = None) -> dict:
    """The event_data of input_stream.set and output_stream.set."""
    return {"stream_type": stream_type, "stream_config": dict(config or {})}


def declared_inputs(lens_config: Any) -> list[dict]:
    """The input streams a lens config declares (`input_streams`), at any nesting depth."""
    found: list[dict] = []
    while isinstance(lens_config, dict):
        for stream in lens_config.get("input_streams") or []:
            if isinstance(stream, dict) and isinstance(stream.get("stream_type"), str):
                found.append(stream)
        lens_config = lens_config.get("lens_config")
    return found


def describe_input(event: dict) -> str:
    """`csv_file_reader machine.csv`: a stream for humans."""
    config = event.get("stream_config") or {}
    source = config.get("file_id") or config.get("rtsp_url") or ""
    return f"{event.get('stream_type')} {source}".strip()
