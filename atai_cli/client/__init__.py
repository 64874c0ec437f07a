"""The only network code in atai: REST, WebSocket sessions, the SSE consumer, the mailbox poller."""

import sys
import types


def _import_httpx_without_its_cli() -> None:
    """httpx imports its own command-line tool (httpx._main: click, pygments, rich) whenever
    click is installed, and uvicorn (the emulator extra) installs it: 70-120 ms of CPU in every
    API command's start-up for code atai never runs. httpx guards that import with
    `except ImportError` and defines a stand-in; an empty module in its place, only while
    httpx itself is imported, triggers exactly that. Any command that loads the client talks
    REST, so httpx is imported here once, before any client module; afterwards nothing of the
    placeholder is left (`import httpx._main` would load the real tool)."""
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    placeholder = types.ModuleType("httpx._main")
    sys.modules["httpx._main"] = placeholder
    try:
        import httpx  # noqa: F401
    finally:
        if sys.modules.get("httpx._main") is placeholder:
            del sys.modules["httpx._main"]


_import_httpx_without_its_cli()
