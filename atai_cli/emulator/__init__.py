"""A local Lens API: REST, WebSocket and SSE on one loopback port, faithful to lens-api.md.

Where the real API is undocumented (lens-api.md section 7) the choices made here are listed
in docs/emulator.md. Heavy imports (starlette, uvicorn) stay inside this package.
"""
