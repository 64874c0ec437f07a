"""The only network code in atai: REST, WebSocket sessions, the SSE consumer, the mailbox poller."""

import sys
import types

# httpx imports its own command-line tool (httpx._main, pulling click, pygments and rich)
# whenever click is installed, and uvicorn (the emulator extra) installs it: ~50 ms of every
# API command's start-up for code atai never runs. httpx guards that import with
# `except ImportError` and defines a stand-in; an empty placeholder module triggers exactly that.
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", types.ModuleType("httpx._main"))
