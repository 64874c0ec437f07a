"""Reference SSE readers for bench_tail.py, each reading the same consumer URL and writing
one JSON line per event to stdout, until sse.stream.end.

    python clients.py httpx-sse URL    # a bare httpx-sse loop: decode, re-encode, write
    python clients.py sdk URL          # the official SDK's ServerSideEventsReader

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


if __name__ == "__main__":
    mode, url = sys.argv[1], sys.argv[2]
    key = os.environ["BENCH_API_KEY"]
    {"httpx-sse": bare_httpx_sse, "sdk": sdk_reader}[mode](url, key)
