"""The Atai-Signature header of forwarded events (docs/forwarding.md).

`Atai-Signature: t=<unix seconds>,v1=<lowercase hex HMAC-SHA256 of "<t>.<body>">`, keyed with
the forward secret, the way Stripe signs webhooks: the timestamp is signed with the body, so a
receiver can refuse replays of old requests as well as forged ones.
"""

from __future__ import annotations

import hashlib
import hmac
import time


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(secret.encode("utf-8"), f"{t}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify(secret: str, body: bytes, header: str, tolerance: float | None = 300.0, now: float | None = None) -> bool:
    """True when the header signs this body with this secret (and, with a tolerance, is recent)."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if tolerance is not None and abs((time.time() if now is None else now) - t) > tolerance:
        return False
    expected = signature(secret, body, t).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))
