"""One redaction rule for everything that leaves the process: api_key fields become "***"."""

from __future__ import annotations

from typing import Any

MASK = "***"
SECRET_FIELDS = frozenset({"api_key", "apikey", "apiKey", "authorization", "Authorization"})


def redact(value: Any) -> Any:
    """Return a copy of a JSON-like value with every secret field masked, at any depth."""
    if isinstance(value, dict):
        return {k: (MASK if k in SECRET_FIELDS and v else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def redact_text(text: str, *secrets: str | None) -> str:
    """Mask literal occurrences of secrets in free text (debug traces, error bodies)."""
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, MASK)
    return text
