"""Capped exponential backoff with jitter, shared by REST retries, SSE reconnects and mailbox polling."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays grow base, 2*base, 4*base... up to cap; each is jittered to [d/2, d].

    "Equal jitter" keeps a floor under every delay (so a flapping server is never hammered)
    while still spreading reconnects of many clients apart.
    """

    base: float = 0.5
    cap: float = 30.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (2 ** self.attempt))
        self.attempt += 1
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def reset(self, base: float | None = None) -> None:
        self.attempt = 0
        if base is not None:
            self.base = base


def parse_retry_after(value: str | None, cap: float = 60.0) -> float | None:
    """Retry-After as seconds (HTTP-date form included), capped; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, min(cap, float(value)))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime
    import datetime as _dt

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return max(0.0, min(cap, (when - _dt.datetime.now(_dt.timezone.utc)).total_seconds()))
