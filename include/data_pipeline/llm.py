"""OpenAI-compatible LLM client and the LLM implementation of the ``Generator`` protocol (SPEC §7.5)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from data_pipeline import secrets_mask

LLM_CONN_ID = "llm_default"


@dataclass(frozen=True)
class LLMSettings:
    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout_seconds: float = 120.0
    connect_timeout_seconds: float = 10.0
    max_retries: int = 3
    concurrency: int = 4
    temperature: float = 0.2


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None


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
    if conn is not None and conn.host:
        base_url = _connection_base_url(conn.conn_type, conn.host, conn.port, conn.schema)
        api_key = conn.password or None
        model = str(conn.extra.get("model") or "") or None
    if base_url is None:
        base_url = _env("DATA_PIPELINE_LLM_BASE_URL")
        api_key = _env("DATA_PIPELINE_LLM_API_KEY")
        model = _env("DATA_PIPELINE_LLM_MODEL")
    if base_url is None:
        return None
    secrets_mask.register_secret(api_key)
    return LLMSettings(base_url=base_url.rstrip("/"), model=model or "gpt-4o-mini", api_key=api_key)
