"""OpenAI-compatible LLM client and the LLM implementation of the ``Generator`` protocol.

Any endpoint speaking ``POST {base_url}/chat/completions`` works (Qwen, DeepSeek, Ollama, vLLM,
OpenAI). Transient failures (connection errors, read timeouts, 429, 500/502/503/504) are retried a
bounded number of times with backoff; client errors (400/401/404) are not, because repeating them
cannot help. Answers are parsed strictly as JSON: a reply that is not a JSON object/array (optionally
in a ```json fence) gets one corrective re-ask, then fails with a message naming the purpose. The API
key is only ever put in the ``Authorization`` header; logs carry sizes and durations, never the key.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlparse
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from data_pipeline import secrets_mask
from data_pipeline.errors import PipelineError
from data_pipeline.generation import prompts
from data_pipeline.generation.generator import RepairRequest
from data_pipeline.generation.offline import describe_table_offline
from data_pipeline.schema.model import QAPair, TableComments, TableInfo, Theme

LLM_CONN_ID = "llm_default"
log = logging.getLogger("data_pipeline.generation.llm")

_TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
_FENCE = re.compile(r"^```[A-Za-z0-9_-]*[ \t]*\n(?P<body>.*?)\n?```$", re.S)
_THINK = re.compile(r"^\s*<think>.*?</think>\s*", re.S)  # reasoning models (DeepSeek-R1, Qwen3) prepend this


class LLMError(PipelineError):
    """The LLM could not be used: bad key, wrong URL, endpoint down after retries."""

    error_code = "LLM_ERROR"
    http_status = 502


class LLMResponseError(LLMError):
    """The LLM answered, but not with what was asked (not JSON, wrong shape)."""

    error_code = "LLM_BAD_RESPONSE"


class _Transient(Exception):
    """A failure worth retrying: the same request may well succeed a moment later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class LLMSettings:
    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout_seconds: float = 120.0
    connect_timeout_seconds: float = 10.0
    max_retries: int = 3  # retries after the first attempt, transient failures only
    backoff_seconds: float = 1.0  # first retry delay; doubles per retry, capped at backoff_max_seconds
    backoff_max_seconds: float = 30.0
    concurrency: int = 4  # simultaneous requests per client
    temperature: float = 0.2
    max_prompt_chars: int = 60_000  # documents beyond this are shortened, so prompts fit a 32k-token context


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None


def _env_number(name: str, default: float) -> float:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise LLMError(f"{name} must be a number, got {raw!r}") from None


def _connection_base_url(conn_type: str, host: str, port: int | None, path: str | None) -> str:
    """``host`` may be a full URL (JSON form) or a bare host from Airflow's URI form (``http://:key@h:8000/v1``)."""
    if "://" in host:
        return host
    scheme = "https" if conn_type.lower() == "https" else "http"
    url = f"{scheme}://{host}" + (f":{port}" if port else "")
    return url + ("/" + path.strip("/") if path else "")


def llm_settings() -> LLMSettings | None:
    """The configured LLM (connection ``llm_default`` first, then env vars), or None for offline mode."""
    from platform_db import get_connection

    conn = get_connection(LLM_CONN_ID)
    base_url = model = api_key = None
    extra: dict[str, Any] = {}
    if conn is not None and conn.host:
        base_url = _connection_base_url(conn.conn_type, conn.host, conn.port, conn.schema)
        api_key = conn.password or None
        extra = dict(conn.extra)
        model = str(extra.get("model") or "") or None
    if base_url is None:
        base_url = _env("DATA_PIPELINE_LLM_BASE_URL")
        api_key = _env("DATA_PIPELINE_LLM_API_KEY")
        model = _env("DATA_PIPELINE_LLM_MODEL")
    if base_url is None:
        return None
    secrets_mask.register_secret(api_key)
    defaults = LLMSettings(base_url="", model="")
    return LLMSettings(
        base_url=base_url.rstrip("/"), model=model or "gpt-4o-mini", api_key=api_key,
        timeout_seconds=float(extra.get("timeout", _env_number("DATA_PIPELINE_LLM_TIMEOUT", defaults.timeout_seconds))),
        max_retries=int(extra.get("max_retries", _env_number("DATA_PIPELINE_LLM_MAX_RETRIES", defaults.max_retries))),
        concurrency=max(1, int(extra.get("concurrency",
                                         _env_number("DATA_PIPELINE_LLM_CONCURRENCY", defaults.concurrency)))),
    )


def excerpt(text: str, limit: int = 200) -> str:
    text = secrets_mask.mask(text.strip().replace("\n", " "))
    return text if len(text) <= limit else text[:limit] + "…"


def parse_json_answer(content: str, purpose: str) -> Any:
    """A JSON object or array, bare or in one ```json fence; anything else is an ``LLMResponseError``."""
    text = _THINK.sub("", content).strip()
    fenced = _FENCE.match(text)
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


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


class ChatClient:
    """A thread-safe client for one OpenAI-compatible endpoint (sync httpx, bounded concurrency)."""

    def __init__(self, settings: LLMSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"
            secrets_mask.register_secret(settings.api_key)
        self._http = httpx.Client(
            timeout=httpx.Timeout(settings.timeout_seconds, connect=settings.connect_timeout_seconds),
            headers=headers, transport=transport, follow_redirects=False,
            limits=httpx.Limits(max_connections=max(settings.concurrency, 1)),
        )
        self._slots = threading.BoundedSemaphore(max(settings.concurrency, 1))
        self._json_mode = True  # switched off once if the endpoint rejects response_format
        self.url = f"{settings.base_url}/chat/completions"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        delay = min(self.settings.backoff_seconds * 2 ** (state.attempt_number - 1),
                    self.settings.backoff_max_seconds)
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            delay = min(max(delay, exc.retry_after), self.settings.backoff_max_seconds)
        return delay

    def _post_once(self, payload: dict[str, Any], purpose: str) -> httpx.Response:
        with self._slots:
            try:
                response = self._http.post(self.url, json=payload)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout, httpx.WriteTimeout,
                    httpx.PoolTimeout, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                kind = type(exc).__name__
                raise _Transient(f"{kind} calling {self.url} for {purpose}: {excerpt(str(exc))}") from exc
        if response.status_code in _TRANSIENT_STATUS:
            raise _Transient(f"HTTP {response.status_code} from {self.url} for {purpose}: {excerpt(response.text)}",
                             _retry_after(response))
        return response

    def _post(self, payload: dict[str, Any], purpose: str) -> httpx.Response:
        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("LLM call for %s failed (attempt %d of %d), retrying: %s", purpose, state.attempt_number,
                        self.settings.max_retries + 1, secrets_mask.mask(str(exc)))

        retrying = Retrying(stop=stop_after_attempt(self.settings.max_retries + 1), wait=self._wait,
                            retry=retry_if_exception(lambda e: isinstance(e, _Transient)),
                            before_sleep=before_sleep, reraise=True)
        try:
            return retrying(self._post_once, payload, purpose)
        except _Transient as exc:
            raise LLMError(f"LLM endpoint unavailable for {purpose} after {self.settings.max_retries + 1} "
                           f"attempts: {exc}") from None

    def _raise_for_client_error(self, response: httpx.Response, purpose: str) -> None:
        status = response.status_code
        if status < 400:
            return
        body = excerpt(response.text)
        if status in (401, 403):
            raise LLMError(f"LLM endpoint {self.settings.base_url} rejected the API key (HTTP {status}) for "
                           f"{purpose}: check the password of connection {LLM_CONN_ID!r} or "
                           f"DATA_PIPELINE_LLM_API_KEY. Server said: {body}")
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


# -- answer validation -----------------------------------------------------------------------


def clean_sql(text: str) -> str | None:
    """One PostgreSQL statement ending with ';', fences and surrounding blanks removed; None otherwise."""
    if not isinstance(text, str):
        return None
    sql = text.strip()
    fenced = _FENCE.match(sql)
    if fenced:
        sql = fenced.group("body").strip()
    statements = [s.strip() for s in sqlparse.split(sql) if s.strip() and s.strip() != ";"]
    statements = [s for s in statements if sqlparse.format(s, strip_comments=True).strip().rstrip(";").strip()]
    if len(statements) != 1:
        return None
    sql = statements[0]
    if not sql.endswith(";"):
        # a trailing line comment would swallow the semicolon
        sql = sql + ("\n;" if "--" in sql.rsplit("\n", 1)[-1] else ";")
    return sql


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [v for v in re.split(r"[,，、;；]", value)]
    if not isinstance(value, list):
        return []
    return [str(v).strip() for v in value if isinstance(v, str | int | float) and str(v).strip()]


def _table_names(tables: Sequence[TableInfo]) -> dict[str, str]:
    """Every way an answer may name a table (lower-cased) -> how we name it (``TableRef.display``)."""
    names: dict[str, str] = {}
    for table in tables:
        shown = table.ref.display
        for alias in (table.name, f"{table.schema_name}.{table.name}", shown, table.ref.qualified):
            names.setdefault(alias.lower(), shown)
            names.setdefault(alias.replace('"', "").lower(), shown)
    return names


def _items(answer: Any, key: str) -> list[Any]:
    """``answer[key]`` if it is a list, or the answer itself if the model returned a bare list."""
    if isinstance(answer, list):
        return answer
    if isinstance(answer, dict):
        value = answer.get(key)
        if isinstance(value, list):
            return value
        lists = [v for v in answer.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
    return []


class LLMGenerator:
    """``generator.Generator`` backed by an OpenAI-compatible chat model."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client
        self.name = f"llm:{client.settings.model}"
        self.concurrency = client.settings.concurrency

    # -- step 1 ------------------------------------------------------------------------------

    def describe_table(self, table: TableInfo, business_context: str) -> TableComments:
        purpose = f"comments of table {table.ref.display}"
        answer = self.client.complete_json(prompts.SYSTEM, prompts.describe_table(table, business_context), purpose)
        if not isinstance(answer, dict):
            raise LLMResponseError(f"LLM answer for {purpose} is not a JSON object")
        fallback = describe_table_offline(table, business_context)
        table_comment = str(answer.get("table_comment") or "").strip() or fallback.table_comment
        raw = answer.get("columns") or answer.get("column_comments") or {}
        proposed: dict[str, str] = {}
        if isinstance(raw, dict):
            proposed = {str(k): str(v).strip() for k, v in raw.items() if isinstance(v, str | int | float)}
        elif isinstance(raw, list):
            for entry in raw:
                if isinstance(entry, dict) and entry.get("name") is not None and entry.get("comment") is not None:
                    proposed[str(entry["name"])] = str(entry["comment"]).strip()
        by_exact = {c.name: c.name for c in table.columns}
        by_lower: dict[str, list[str]] = {}
        for column in table.columns:
            by_lower.setdefault(column.name.lower(), []).append(column.name)
        comments: dict[str, str] = {}
        unknown: list[str] = []
        for name, text in proposed.items():
            target = by_exact.get(name) or by_exact.get(name.strip('"'))
            if target is None and len(by_lower.get(name.strip('"').lower(), [])) == 1:
                target = by_lower[name.strip('"').lower()][0]
            if target is None or not text:
                unknown.append(name)
                continue
            comments.setdefault(target, text)
        missing = [c.name for c in table.columns if c.name not in comments]
        if unknown:
            log.warning("LLM proposed comments for columns %s that table %s does not have; ignored",
                        ", ".join(unknown[:20]), table.ref.display)
        if missing:
            log.warning("LLM gave no comment for column(s) %s of %s; derived them from the names",
                        ", ".join(missing[:20]), table.ref.display)
            for name in missing:
                comments[name] = fallback.column_comments.get(name, name)
        ordered = {c.name: comments[c.name] for c in table.columns}
        return TableComments(table_comment=table_comment, column_comments=ordered)

    # -- step 2 ------------------------------------------------------------------------------

    def extract_themes(self, documents: Sequence[str], tables: Sequence[TableInfo], business_context: str,
                       count: int) -> list[Theme]:
        purpose = f"extraction of {count} business themes"
        user = prompts.extract_themes(documents, tables, business_context, count, self.client.settings.max_prompt_chars)
        answer = self.client.complete_json(prompts.SYSTEM, user, purpose)
        known = _table_names(tables)
        themes: list[Theme] = []
        seen: set[str] = set()
        for entry in _items(answer, "themes"):
            if not isinstance(entry, dict):
                continue
            topic = str(entry.get("topic") or entry.get("topic_name") or entry.get("name") or "").strip()
            if not topic or topic.lower() in seen:
                continue
            related: list[str] = []
            dropped: list[str] = []
            for name in _strings(entry.get("related_tables") or entry.get("tables")):
                shown = known.get(name.lower()) or known.get(name.replace('"', "").lower())
                if shown is None:
                    dropped.append(name)
                elif shown not in related:
                    related.append(shown)
            if dropped:
                log.warning("theme %r names unknown tables %s; ignored", topic, ", ".join(dropped))
            if not related:
                log.warning("theme %r names none of the listed tables; dropped", topic)
                continue
            seen.add(topic.lower())
            themes.append(Theme(
                topic=topic, description=str(entry.get("description") or "").strip(), related_tables=related,
                business_entities=_strings(entry.get("business_entities") or entry.get("biz_entities")),
                metrics=_strings(entry.get("metrics") or entry.get("biz_metrics")),
            ))
        if not themes:
            raise LLMResponseError(f"LLM answer for {purpose} holds no usable theme (each needs a topic and at least "
                                   f"one of the listed tables): {excerpt(json.dumps(answer, ensure_ascii=False))!r}")
        return themes[:count]

    def generate_pairs(self, theme: Theme, documents: Sequence[str], tables: Sequence[TableInfo],
                       business_context: str, count: int) -> list[QAPair]:
        purpose = f"question/SQL pairs for theme {theme.topic!r}"
        user = prompts.generate_pairs(theme, documents, tables, business_context, count,
                                      self.client.settings.max_prompt_chars)
        answer = self.client.complete_json(prompts.SYSTEM, user, purpose)
        pairs: list[QAPair] = []
        dropped = 0
        for entry in _items(answer, "pairs"):
            if not isinstance(entry, dict):
                dropped += 1
                continue
            question = str(entry.get("question") or "").strip()
            sql = clean_sql(str(entry.get("sql") or ""))
            if not question or sql is None:
                dropped += 1
                continue
            pairs.append(QAPair(question=question, sql=sql))
        if dropped:
            log.warning("%d pair(s) for theme %r dropped: no question, or SQL that is not exactly one statement",
                        dropped, theme.topic)
        return pairs[:count]

    # -- step 3 ------------------------------------------------------------------------------

    def repair_sql(self, items: Sequence[RepairRequest], documents: Sequence[str], *,
                   batch_size: int = 10) -> list[str | None]:
        """A corrected SQL per item (same order); None where the model offers nothing usable."""
        results: list[str | None] = []
        for start in range(0, len(items), batch_size):
            batch = items[start:start + batch_size]
            purpose = f"repair of SQL items {start + 1}-{start + len(batch)}"
            user = prompts.repair_sql(batch, documents, self.client.settings.max_prompt_chars)
            answer = self.client.complete_json(prompts.SYSTEM, user, purpose)
            fixed: dict[int, str | None] = {}
            for position, entry in enumerate(_items(answer, "items")):
                if not isinstance(entry, dict):
                    continue
                index = entry.get("index", position + 1)
                try:
                    index = int(index)
                except (TypeError, ValueError):
                    continue
                raw = entry.get("sql")
                fixed[index] = clean_sql(raw) if isinstance(raw, str) and raw.strip() else None
            results.extend(fixed.get(i + 1) for i in range(len(batch)))
        return results
