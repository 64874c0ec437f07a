"""Cameras and video (lens_camera_processor): frames are sampled at `target_frame_rate_hz`
(default 1 per second), grouped `camera_buffer_size` at a time, advancing by
`camera_buffer_step_size` (both 5 by default, as the Activity Monitor lens has them); one text
result per buffer. The scene "seen" is picked deterministically from the bytes of the part of
the file the buffer covers (from the URL and buffer number for a camera), so the same input
always gives the same text. Also model.query on one image."""

from __future__ import annotations

import asyncio
import hashlib
import struct
from dataclasses import dataclass
from typing import Any

from atai_cli.emulator.processors import model_parameters
from atai_cli.emulator.processors.common import hms, pick, query_id
from atai_cli.emulator.processors.timeseries import positive_int

ACTIVITIES = (
    "a person walks across the frame",
    "two people talk next to a table",
    "a vehicle drives past slowly",
    "the scene is quiet; nothing moves",
    "a person picks up a box and carries it away",
    "a group of people gathers near the entrance",
)
UNPARSED_VIDEO_S = 20.0  # the duration of a video whose mp4 header cannot be read


def mp4_duration(data: bytes) -> float | None:
    """Seconds, from the movie header (moov/mvhd) of an mp4; None when there is none."""
    def boxes(start: int, end: int):
        pos = start
        while pos + 8 <= end:
            size, kind = struct.unpack(">I4s", data[pos:pos + 8])
            header = 8
            if size == 1 and pos + 16 <= end:
                size, header = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
            elif size == 0:
                size = end - pos
            if size < header:
                return
            yield kind, pos + header, min(pos + size, end)
            pos += size

    for kind, body, end in boxes(0, len(data)):
        if kind != b"moov":
            continue
        for inner, start, stop in boxes(body, end):
            if inner != b"mvhd" or stop - start < 20:
                continue
            if data[start] == 1 and stop - start >= 32:
                timescale, duration = struct.unpack(">IQ", data[start + 20:start + 32])
            else:
                timescale, duration = struct.unpack(">II", data[start + 12:start + 20])
            return duration / timescale if timescale else None
    return None


@dataclass
class Buffers:
    size: int
    step: int
    fps: float


def buffer_settings(model_parameters: dict, stream_config: dict) -> Buffers:
    size = positive_int(model_parameters.get("camera_buffer_size"), 5)
    rate = stream_config.get("target_frame_rate_hz")
    fps = float(rate) if isinstance(rate, (int, float)) and not isinstance(rate, bool) and rate > 0 else 1.0
    return Buffers(size, positive_int(model_parameters.get("camera_buffer_step_size"), size), fps)


def frame_result(source: str, frames: list[int], fps: float, activity: str, focus: Any) -> dict:
    text = f"Frames {frames[0]}-{frames[-1]} of {source}: {activity}."
    if focus:
        text += f" (focus: {focus})"
    return {
        "response": [text],
        "query_id": query_id(),
        "query_metadata": {"sensor_timestamp": hms(frames[0] / fps), "frame_ids": frames},
    }


@dataclass
class Video:
    file_id: str
    data: bytes
    duration_s: float

    @classmethod
    def load(cls, file_id: str, data: bytes) -> "Video":
        return cls(file_id, data, mp4_duration(data) or UNPARSED_VIDEO_S)


def video_buffers(video: Video, buffers: Buffers) -> list[list[int]]:
    """The frame ids of each buffer: full buffers only, or all frames when there are fewer."""
    total = max(1, int(video.duration_s * buffers.fps))
    starts = range(0, total - buffers.size + 1, buffers.step) if total >= buffers.size else [0]
    return [list(range(start, min(total, start + buffers.size))) for start in starts]


async def run_video(session, config, video: Video, buffers: Buffers, source: int) -> None:
    plan = video_buffers(video, buffers)
    total = plan[-1][-1] + 1
    for frames in plan:
        await asyncio.sleep(config.output_interval_s)
        part = video.data[len(video.data) * frames[0] // total:len(video.data) * (frames[-1] + 1) // total]
        activity = pick(ACTIVITIES, hashlib.sha256(part).hexdigest())
        session.num_inputs += len(frames)
        focus = model_parameters(session.lens_config).get("focus")
        await session.model.submit("inference.result", frame_result(video.file_id, frames, buffers.fps, activity, focus), source)


async def run_rtsp(session, config, url: str, buffers: Buffers, source: int) -> None:
    """A camera never ends: one buffer per --output-interval until the input is replaced or
    the session is destroyed."""
    n = 0
    while True:
        await asyncio.sleep(config.output_interval_s)
        frames = list(range(n * buffers.step, n * buffers.step + buffers.size))
        session.num_inputs += buffers.step
        focus = model_parameters(session.lens_config).get("focus")
        await session.model.submit("inference.result", frame_result(url, frames, buffers.fps, pick(ACTIVITIES, url, n), focus), source)
        n += 1


def describe_image(raw: bytes, template: str, focus: Any, instruction: Any) -> str:
    digest = hashlib.sha256(raw).hexdigest()[:8]
    if "bbox" in str(template):
        return f'[{{"label": "object", "box": [0, 0, {len(raw) % 640}, {len(raw) % 360}], "image": "{digest}"}}]'
    return f"An image of {len(raw)} bytes (digest {digest}). Focus: {focus or 'none'}. Instruction: {instruction or 'none'}."
