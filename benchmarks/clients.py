"""Reference SSE readers for bench_tail.py, each reading the same consumer URL and writing
one JSON line per event to stdout, until sse.stream.end.

    python clients.py httpx-sse URL    # a bare httpx-sse loop: decode, re-encode, write
    python clients.py sdk URL          # the official SDK's ServerSideEventsReader
    python clients.py floor URL        # the least a Python reader that checks each event's JSON does

The key comes from BENCH_API_KEY.
"""

from __future__ import annotations

import json
import os
import sys


def bare_httpx_sse(url: str, key: str) -> None:
    import httpx
    from httpx_sse import connect_sse

    write = sys.stdout.write
    with httpx.Client(timeout=httpx.Timeout(30.0, read=None)) as client:
        with connect_sse(client, "GET", url, headers={"Authorization": f"Bearer {key}"}) as source:
            for sse in source.iter_sse():
                data = json.loads(sse.data)
                kind = data.get("type", "")
                if kind == "sse.stream.end":
                    break
                if not kind.startswith("sse.stream."):
                    write(json.dumps(data) + "\n")
    sys.stdout.flush()


def sdk_reader(url: str, key: str) -> None:
    from archetypeai._sse import ServerSideEventsReader

    write = sys.stdout.write
    reader = ServerSideEventsReader(url, {"Authorization": f"Bearer {key}"})
    try:
        for event in reader.read(block=True):
            kind = event.get("type", "")
            if kind == "sse.stream.end":
                break
            if not kind.startswith("sse.stream."):
                write(json.dumps(event) + "\n")
    finally:
        reader.continue_worker_loop = False
    sys.stdout.flush()
    os._exit(0)  # the SDK's worker thread may still sit in a read


def python_floor(url: str, key: str) -> None:
    """A lower bound for any Python reader that validates events, not a correct client: a raw
    socket, no HTTP parsing (the firehose's chunks hold whole records, so its framing lines are
    skipped as non-data lines), no ids, no reconnect; per event only the `data:` line found,
    `raw_decode` (validation, and the `type` the envelope test needs) and the text appended to
    one write per socket read."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)  # plain http only: the floor has no TLS
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    sock = socket.create_connection((parts.hostname, parts.port or 80))
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {key}\r\n"
                 "Accept: text/event-stream\r\n\r\n".encode())
    decode = json.JSONDecoder().raw_decode
    write = sys.stdout.buffer.write
    buffer = b""
    while piece := sock.recv(1 << 18):
        buffer += piece
        cut = buffer.rfind(b"\n\n")
        if cut < 0:
            continue
        block, buffer = buffer[:cut], buffer[cut + 2:]
        lines = []
        for line in block.split(b"\n"):
            if line.startswith(b"data: "):
                text = line[6:].decode()
                kind = decode(text)[0].get("type", "")
                if kind == "sse.stream.end":
                    write("".join(lines).encode())
                    return
                if not kind.startswith("sse.stream."):
                    lines.append(text + "\n")
        write("".join(lines).encode())


if __name__ == "__main__":
    mode, url = sys.argv[1], sys.argv[2]
    key = os.environ["BENCH_API_KEY"]
    {"httpx-sse": bare_httpx_sse, "sdk": sdk_reader, "floor": python_floor}[mode](url, key)
