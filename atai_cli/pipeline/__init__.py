"""Following as a flow: a worker per session -> filters -> sinks -> the session's cursor."""
