"""The only network code in atai: REST, WebSocket sessions, the SSE consumer, the mailbox poller."""
