"""A client for one OpenAI-compatible chat endpoint: bounded concurrency, retries, strict JSON answers.

Any endpoint speaking ``POST {base_url}/chat/completions`` works (Qwen, DeepSeek, Ollama, vLLM,
OpenAI). Transient failures are retried by the shared policy in ``retry.py`` (connection errors,
408/409/429/5xx, ``Retry-After``); client errors (400/401/404) are not, because repeating them
cannot help. Answers are parsed strictly as JSON: a reply that is not a JSON object/array (optionally
in a ```json fence) gets one corrective re-ask, then fails with a message naming the purpose. The API
key is only ever put in the ``Authorization`` header; logs carry sizes and durations, never the key.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Sequence
from typing import Any

import httpx

from data_pipeline import config, secrets_mask
from data_pipeline.errors import PipelineError
from data_pipeline.generation import prompts, retry
from data_pipeline.generation.endpoint import LLMSettings

log = logging.getLogger("data_pipeline.generation.chat")

CODE_FENCE = re.compile(r"^```[A-Za-z0-9_-]*[ \t]*\n(?P<body>.*?)\n?```$", re.S)
_THINK = re.compile(r"^\s*<think>.*?</think>\s*", re.S)  # reasoning models (DeepSeek-R1, Qwen3) prepend this


class LLMError(PipelineError):
    """The LLM could not be used: bad key, wrong URL, endpoint down after retries."""

    error_code = "LLM_ERROR"
    http_status = 502


class LLMResponseError(LLMError):
    """The LLM answered, but not with what was asked (not JSON, wrong shape)."""

    error_code = "LLM_BAD_RESPONSE"


def excerpt(text: str, limit: int = 200) -> str:
    text = secrets_mask.mask(text.strip().replace("\n", " "))
    return text if len(text) <= limit else text[:limit] + "…"


def parse_json_answer(content: str, purpose: str) -> Any:
    """A JSON object or array, bare or in one ```json fence; anything else is an ``LLMResponseError``."""
    text = _THINK.sub("", content).strip()
    fenced = CODE_FENCE.match(text)
    if fenced:
        text = fenced.group("body").strip()
    if not text:
        raise LLMResponseError(f"LLM answer for {purpose} was empty")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LLMResponseError(f"LLM answer for {purpose} is not valid JSON ({exc.msg} at line {exc.lineno} "
                               f"column {exc.colno}): {excerpt(content)!r}") from None
    if not isinstance(value, dict | list):
        raise LLMResponseError(f"LLM answer for {purpose} is JSON but not an object or array: {excerpt(content)!r}")
    return value


class ChatClient:
    """A thread-safe client for one OpenAI-compatible endpoint (sync httpx, bounded concurrency)."""

    def __init__(self, settings: LLMSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self._http = httpx.Client(
            timeout=httpx.Timeout(settings.timeout_seconds, connect=settings.connect_timeout_seconds),
            headers=settings.headers(), transport=transport, follow_redirects=False,
            limits=httpx.Limits(max_connections=settings.concurrency),
        )
        self._slots = threading.BoundedSemaphore(settings.concurrency)
        self._json_mode = True  # switched off once if the endpoint rejects response_format
        self.url = f"{settings.base_url}/chat/completions"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------

    def _post(self, payload: dict[str, Any], purpose: str) -> httpx.Response:
        def attempt() -> httpx.Response:
            with self._slots:
                return retry.send(lambda: self._http.post(self.url, json=payload), f"{self.url} for {purpose}")

        try:
            return retry.retrying(self.settings, log, f"LLM call for {purpose}")(attempt)
        except retry.TransientError as exc:
            raise LLMError(f"LLM endpoint unavailable for {purpose} after {self.settings.max_attempts} "
                           f"attempts: {exc}") from None

    def _raise_for_client_error(self, response: httpx.Response, purpose: str) -> None:
        status = response.status_code
        if status < 400:
            return
        body = excerpt(response.text)
        if status in (401, 403):
            raise LLMError(f"LLM endpoint {self.settings.base_url} rejected the API key (HTTP {status}) for "
                           f"{purpose}: check the password of connection {config.LLM_CONN_ID!r} or "
                           f"{config.LLMEnv.env_name('api_key')}. Server said: {body}")
        if status == 404:
            raise LLMError(f"LLM endpoint not found (HTTP 404) at {self.url} for {purpose}: the base URL usually "
                           f"ends with /v1, and the model {self.settings.model!r} must exist. Server said: {body}")
        raise LLMError(f"LLM endpoint refused the request for {purpose} (HTTP {status}): {body}")

    # -- chat --------------------------------------------------------------------------------

    def chat(self, messages: Sequence[dict[str, str]], *, purpose: str, json_mode: bool = False) -> str:
        """The assistant's text for ``messages``."""
        payload: dict[str, Any] = {"model": self.settings.model, "messages": list(messages),
                                   "temperature": self.settings.temperature}
        use_json_mode = json_mode and self._json_mode
        if use_json_mode:
            payload["response_format"] = {"type": "json_object"}
        prompt_chars = sum(len(m.get("content", "")) for m in messages)
        started = time.perf_counter()
        response = self._post(payload, purpose)
        if response.status_code == 400 and use_json_mode and "response_format" in response.text:
            # Some servers (older vLLM/Ollama builds) do not accept response_format: ask once without it.
            log.info("LLM endpoint does not accept response_format; continuing without JSON mode")
            self._json_mode = False
            payload.pop("response_format")
            response = self._post(payload, purpose)
        self._raise_for_client_error(response, purpose)
        try:
            body = response.json()
            content = body["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise LLMResponseError(f"LLM endpoint returned an unexpected body for {purpose} (not a chat completion):"
                                   f" {excerpt(response.text)!r}") from None
        if not isinstance(content, str):
            raise LLMResponseError(f"LLM answer for {purpose} has no text content: {excerpt(response.text)!r}")
        usage = body.get("usage") or {}
        log.info("LLM %s: model=%s prompt_chars=%d response_chars=%d prompt_tokens=%s completion_tokens=%s "
                 "duration=%.2fs", purpose, self.settings.model, prompt_chars, len(content),
                 usage.get("prompt_tokens", "?"), usage.get("completion_tokens", "?"),
                 time.perf_counter() - started)
        return content

    def complete_json(self, system: str, user: str, purpose: str) -> Any:
        """Parsed JSON answer; one corrective re-ask when the first answer is not valid JSON."""
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        content = self.chat(messages, purpose=purpose, json_mode=True)
        try:
            return parse_json_answer(content, purpose)
        except LLMResponseError as first:
            log.warning("LLM answer for %s was not valid JSON, asking again: %s", purpose, first.message)
            retry = [*messages, {"role": "assistant", "content": content},
                     {"role": "user", "content": prompts.json_correction(first.message)}]
            second = self.chat(retry, purpose=purpose, json_mode=True)
            try:
                return parse_json_answer(second, purpose)
            except LLMResponseError as exc:
                raise LLMResponseError(f"{exc.message} (also after asking again for plain JSON)") from None

