"""Which output channel a lens writes to: the SSE consumer, or the session.read mailbox.

Docs say "a server_sent_events_writer output processor in model_pipeline"; every official
example instead lists the writer under output_streams (or attaches it with output_stream.set,
spelled server_side_events_writer). Both places and both spellings count.
"""

from __future__ import annotations

from typing import Any, Iterator

from atai_cli.protocol.streams import SSE_WRITERS

CHANNELS = ("auto", "sse", "read")


def _configs(lens_config: Any) -> Iterator[dict]:
    # Registered lenses sometimes nest a second lens_config inside the first.
    while isinstance(lens_config, dict):
        yield lens_config
        lens_config = lens_config.get("lens_config")


def sse_writer(lens_config: Any) -> str | None:
    """Describe where the SSE writer was found, or None when the lens has none."""
    for config in _configs(lens_config):
        for stream in config.get("output_streams") or []:
            if isinstance(stream, dict) and stream.get("stream_type") in SSE_WRITERS:
                return f"output_streams has {stream['stream_type']}"
        for step in config.get("model_pipeline") or []:
            if isinstance(step, dict) and step.get("processor_name") in SSE_WRITERS:
                return f"model_pipeline has {step['processor_name']}"
    return None


def output_channel(lens_config: Any) -> tuple[str, str]:
    """("sse" | "read", why)."""
    found = sse_writer(lens_config)
    if found:
        return "sse", found
    return "read", "no server_sent_events_writer in output_streams or model_pipeline"


def choose_channel(lens_config: Any, requested: str = "auto") -> tuple[str, str]:
    """("sse" | "read", why): the requested channel, or for auto the one the lens config names
    (session.status reports it, including writers attached with output_stream.set)."""
    if requested != "auto":
        return requested, f"--channel {requested}"
    channel, why = output_channel(lens_config)
    return channel, f"lens config: {why}"
