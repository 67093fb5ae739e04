"""Masking of secrets in anything the product writes: logs, results, API responses.

Connection URIs are masked by pattern; other secrets (API keys, tokens, passwords read from
connections) are registered once when read and masked wherever they appear afterwards.
"""

from __future__ import annotations

import threading

from platform_db import redact_dsn

_registered: set[str] = set()
_lock = threading.Lock()
MASK = "***"


def register_secret(value: str | None) -> None:
    """Remember a secret value so ``mask`` hides it from now on (short values are ignored)."""
    if value and len(value) >= 4:
        with _lock:
            _registered.add(value)


def mask(text: str) -> str:
    """``text`` with URI passwords, ``password=`` parameters and registered secrets replaced by ***."""
    text = redact_dsn(text)
    with _lock:
        secrets = sorted(_registered, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
