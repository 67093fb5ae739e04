"""One retry policy for every OpenAI-compatible call (chat and embeddings).

It follows what OpenAI documents and its own Python client does: retry connection errors, 408
(timeout), 409 (lock conflict), 429 (rate limit) and every 5xx; wait with exponential backoff plus
jitter, unless the server says how long in ``Retry-After`` (seconds or an HTTP-date, RFC 9110
§10.2.3), which is honoured up to a minute. Other statuses are the caller's to judge.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from typing import TypeVar

import httpx
import tenacity

from data_pipeline import secrets_mask
from data_pipeline.generation.endpoint import EndpointSettings

T = TypeVar("T")
RETRY_AFTER_CAP_SECONDS = 60.0  # a longer hint is not waited for: the attempt budget runs out instead


class TransientError(Exception):
    """A failure the same request may not repeat a moment later."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def is_transient_status(status: int) -> bool:
    return status in (408, 409, 429) or status >= 500


def retry_after_seconds(response: httpx.Response, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds to wait: a number, or an HTTP-date counted from now; None if absent or bad."""
    raw = (response.headers.get("retry-after") or "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, min(seconds, RETRY_AFTER_CAP_SECONDS))


def check_status(response: httpx.Response, describe: str) -> httpx.Response:
    """Raise ``TransientError`` for a status worth retrying; any other response goes back to the caller."""
    if is_transient_status(response.status_code):
        text = secrets_mask.mask(response.text.strip().replace("\n", " "))[:200]
        raise TransientError(f"HTTP {response.status_code} from {describe}: {text}", response.status_code,
                             retry_after_seconds(response))
    return response


def send(request: Callable[[], httpx.Response], describe: str) -> httpx.Response:
    """One attempt: transport failures and retryable statuses become ``TransientError``."""
    try:
        response = request()
    except httpx.TimeoutException as exc:
        raise TransientError(f"timed out calling {describe} ({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        raise TransientError(f"connection failed calling {describe} ({type(exc).__name__}: "
                             f"{secrets_mask.mask(str(exc))})") from None
    return check_status(response, describe)


def retrying(settings: EndpointSettings, log: logging.Logger, what: str) -> tenacity.Retrying:
    """The policy: ``settings.max_attempts`` tries, backoff with jitter, a server's ``Retry-After`` first."""
    backoff = tenacity.wait_exponential_jitter(multiplier=settings.backoff_seconds, max=settings.backoff_max_seconds,
                                               jitter=settings.backoff_seconds)

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return exc.retry_after
        return backoff(state)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("%s failed (attempt %d of %d), retrying in %.1fs: %s", what, state.attempt_number,
                    settings.max_attempts, state.upcoming_sleep, secrets_mask.mask(str(exc)))

    return tenacity.Retrying(retry=tenacity.retry_if_exception_type(TransientError),
                             stop=tenacity.stop_after_attempt(settings.max_attempts), wait=wait,
                             before_sleep=before_sleep, reraise=True)
