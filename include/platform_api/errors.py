"""The base of every error a caller can act on: a message, a stable ``error_code`` and an HTTP status."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Raised by core code that knows nothing of HTTP; the API answers ``http_status`` with ``error_code``.

    ``details`` must be safe to show to users (never a token or password): it becomes the answer's ``data``.
    """

    error_code = "INTERNAL_ERROR"
    http_status = 500

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def answer_data(self) -> dict[str, Any]:
        """What the error answer carries in ``data``; subclasses add what is theirs to show."""
        return dict(self.details)
