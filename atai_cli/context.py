"""What every command gets: the global options, resolved lazily into settings and a client."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from atai_cli.errors import AuthError
from atai_cli.output import Output

if TYPE_CHECKING:
    from atai_cli.client.api import LensApi
    from atai_cli.settings import Settings


@dataclass
class AppState:
    endpoint: str | None = None
    api_key: str | None = None
    profile: str | None = None
    debug: bool = False
    _clients: list = field(default_factory=list)

    @property
    def flags(self) -> dict[str, Any]:
        return {"api_endpoint": self.endpoint, "api_key": self.api_key}

    @cached_property
    def profile_name(self) -> str:
        from atai_cli.settings import resolve_profile

        return resolve_profile(self.profile)

    @cached_property
    def settings(self) -> "Settings":
        from atai_cli.settings import load_settings

        return load_settings(self.flags, self.profile_name)

    def output(self, json_mode: bool = False) -> Output:
        return Output(json_mode)

    def secret(self) -> str | None:
        key = self.settings.api_key
        return key.get_secret_value() if key else None

    def api(self, out: Output | None = None) -> "LensApi":
        from atai_cli.client.api import LensApi

        key = self.secret()
        if not key:
            raise AuthError(
                "no API key configured",
                hint="set ATAI_API_KEY, pass --api-key, or run `atai login`",
            )
        s = self.settings
        trace = (out or Output()).trace if self.debug else None
        client = LensApi(
            s.api_endpoint, key, timeout=s.timeout, max_retries=s.max_retries,
            retry_delay=s.retry_delay, reconnect_delay=s.reconnect_delay, trace=trace,
        )
        self._clients.append(client)
        return client

    def client_id(self) -> str:
        if self.settings.client_id:
            return self.settings.client_id
        from atai_cli.settings import stored_client_id

        return stored_client_id(self.profile_name)

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()
