"""What every command gets: the environment, the global options, and from them (lazily, so
`--help` pays for none of it) the settings, the one output layer and the API client."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable

from atai_cli.environment import Environment
from atai_cli.errors import NO_KEY_HINT, AuthError, UsageError

if TYPE_CHECKING:
    from atai_cli.client.api import LensApi
    from atai_cli.output import Output
    from atai_cli.settings import Settings

DEFAULT_PROFILE = "default"
# Variables whose values are never printed, recorded or handed to --exec.
SECRET_VARIABLES = ("ATAI_API_KEY", "ATAI_FORWARD_SECRET", "ATAI_KAFKA_SASL_PASSWORD", "ATAI_MQTT_PASSWORD",
                    "KAFKA_SASL_PASSWORD", "KAFKA_SSL_KEY_PASSWORD")


class AppState:
    def __init__(self, env: Environment | None = None) -> None:
        self.env = env or Environment()
        self.endpoint: str | None = None
        self.api_key: str | None = None
        self.profile: str | None = None
        self.debug = False
        self.no_color = False  # --no-color (NO_COLOR in the environment counts too: Output.for_env)
        self.json_output = False  # set by any command's --json, before the command runs
        self._clients: list = []
        self._secrets: list[str] = []  # given on the command line (e.g. --forward-secret)
        self.notices: Callable[[str], None] | None = None  # a live view's notes, while one is drawn

    # -- global options -----------------------------------------------------------------
    @property
    def flags(self) -> dict[str, Any]:
        return {"api_endpoint": self.endpoint, "api_key": self.api_key}

    @cached_property
    def profile_name(self) -> str:
        return self.profile or self.env.get("ATAI_PROFILE") or DEFAULT_PROFILE

    @property
    def profile_is_explicit(self) -> bool:
        return bool(self.profile or self.env.get("ATAI_PROFILE"))

    def check_profile(self) -> None:
        """A profile asked for by name must exist in the config file (the default need not)."""
        from atai_cli.config_file import profile_names

        if self.profile is not None and not self.profile.strip():
            raise UsageError("--profile needs a name", hint="e.g. --profile local; without it the profile is 'default'")
        if not self.profile_is_explicit:
            return
        names = profile_names(self.env.config_path)
        if self.profile_name not in names:
            source = "--profile" if self.profile else "ATAI_PROFILE"
            where = f"it has: {', '.join(names)}" if names else "it has none" if self.env.config_path.exists() else "there is no such file yet"
            raise UsageError(
                f"no profile {self.profile_name!r} in {self.env.config_path} ({source}); {where}",
                hint=f"create it with `atai --profile {self.profile_name} login`" + (", or pick one of those" if names else ""),
            )

    @cached_property
    def settings(self) -> "Settings":
        """The settings in effect; a profile asked for by name must exist."""
        self.check_profile()
        return self.unchecked_settings

    @cached_property
    def unchecked_settings(self) -> "Settings":
        """For the commands that create profiles (login, config set)."""
        from atai_cli.settings import load_settings

        return load_settings(self.flags, self.profile_name, self.env.environ, self.env.config_path)

    # -- output -------------------------------------------------------------------------
    @cached_property
    def out(self) -> "Output":
        from atai_cli.output import Output

        return Output.for_env(self.env, json_mode=self.json_output, no_color=self.no_color)

    @property
    def out_ready(self) -> bool:
        return "out" in self.__dict__

    def secrets(self) -> list[str]:
        """Everything that must never be printed, for the error boundary's last redaction."""
        found = [self.api_key or "", *(self.env.get(name) or "" for name in SECRET_VARIABLES), *self._secrets]
        settings = self.__dict__.get("unchecked_settings")
        if settings is not None:
            from atai_cli.settings import SECRET_SETTINGS  # loaded already with the settings

            for name in SECRET_SETTINGS:
                secret = getattr(settings, name)
                if secret is not None:
                    found.append(secret.get_secret_value())
        return [s for s in found if s]

    # -- the client ---------------------------------------------------------------------
    def api_key_value(self) -> str:
        key = self.settings.api_key
        if key is None or not key.get_secret_value():
            raise AuthError("no API key configured", hint=NO_KEY_HINT)
        return key.get_secret_value()

    def api(self, *, api_key: str | None = None, settings: "Settings | None" = None, **overrides: Any) -> "LensApi":
        """The one place a LensApi is built (commands, login, doctor, completion)."""
        from atai_cli.client.api import LensApi

        s = settings or self.settings
        options: dict[str, Any] = dict(
            timeout=s.timeout, max_retries=s.max_retries, retry_delay=s.retry_delay,
            reconnect_delay=s.reconnect_delay, give_up_after=s.reconnect_give_up,
            trace=self.out.trace if self.debug else None, notify=self.notify,
        )
        options.update(overrides)
        client = LensApi.connect(s.api_endpoint, api_key or self.api_key_value(), **options)
        self._clients.append(client)
        return client

    def notify(self, text: str) -> None:
        """A progress line on stderr, or in the live view's notes while one is drawn (printing
        beside a live display would tear it)."""
        (self.notices or self.out.info)(text)

    def client_id(self) -> str:
        if self.settings.client_id:
            return self.settings.client_id
        from atai_cli.config_file import stored_client_id

        return stored_client_id(self.env.config_dir, self.profile_name)

    def forward_secret(self, flag: str | None = None) -> str:
        """--forward-secret, else ATAI_FORWARD_SECRET, else the profile's (created once, 0600)."""
        if flag:
            self._secrets.append(flag)
            return flag
        if self.settings.forward_secret is not None:
            return self.settings.forward_secret.get_secret_value()
        from atai_cli.config_file import ensure_forward_secret

        secret = ensure_forward_secret(self.env.config_path, self.profile_name)
        self._secrets.append(secret)
        return secret

    def keep_secret(self, value: str | None) -> None:
        """A secret given some other way (a password in a --forward-to URL): never printed."""
        if value:
            self._secrets.append(value)

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()
