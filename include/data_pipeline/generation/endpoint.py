"""Where an OpenAI-compatible endpoint is and how to call it: one settings type for the LLM and the embedder.

The endpoint's Airflow connection wins (host = base URL, password = API key, extra = ``model`` and
tuning such as ``timeout``, ``max_retries``, ``concurrency``, ``dimension``, ``dimensions``, ``batch_size``); without
it, the ``DATA_PIPELINE_LLM_*`` / ``DATA_PIPELINE_EMBEDDING_*`` variables declared in ``config``.
Tuning the connection's extra leaves out comes from those variables, then from the defaults here.
Neither configured means offline: the builders return None. No HTTP client is imported here, so an
offline run never loads one.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from data_pipeline import config, secrets_mask
from platform_db import ConnectionInfo, get_connection

DEFAULT_LLM_MODEL = "gpt-4o-mini"
DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"


class EndpointSettings(BaseModel):
    """An OpenAI-compatible endpoint: where, which model, with which key, and how patiently."""

    model_config = ConfigDict(frozen=True)

    base_url: str
    model: str
    api_key: SecretStr | None = None
    timeout_seconds: float = Field(60.0, gt=0)
    connect_timeout_seconds: float = Field(10.0, gt=0)
    max_retries: int = Field(3, ge=0)  # retries after the first attempt, transient failures only
    backoff_seconds: float = Field(1.0, ge=0)  # first retry delay; doubles per retry, capped below
    backoff_max_seconds: float = Field(30.0, ge=0)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("a base URL must start with http:// or https://")
        return value

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1

    def headers(self) -> dict[str, str]:
        """JSON request headers; the key goes only into ``Authorization``, and into the log mask first."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key is not None and self.api_key.get_secret_value():
            key = self.api_key.get_secret_value()
            secrets_mask.register_secret(key)
            headers["Authorization"] = f"Bearer {key}"
        return headers


class LLMSettings(EndpointSettings):
    timeout_seconds: float = Field(120.0, gt=0)
    concurrency: int = Field(4, ge=1)  # simultaneous requests per client
    temperature: float = 0.2
    max_prompt_chars: int = Field(60_000, gt=0)  # documents beyond this are shortened to fit a 32k-token context


class EmbeddingSettings(EndpointSettings):
    dimension: int | None = Field(None, gt=0)  # None: ask the endpoint once
    batch_size: int = Field(32, gt=0)
    dimensions: int | None = Field(None, gt=0)  # sent in each request: OpenAI's text-embedding-3-* shorten to it

    @model_validator(mode="after")
    def _dimension_follows_dimensions(self) -> EmbeddingSettings:
        if self.dimensions is not None and self.dimension is None:
            object.__setattr__(self, "dimension", self.dimensions)  # frozen model: the expected length is known
        if self.dimensions is not None and self.dimension != self.dimensions:
            raise ValueError(f"dimension {self.dimension} contradicts dimensions {self.dimensions}")
        return self


# settings field -> (keys accepted in the connection's extra, field of ``config.EndpointEnv``)
_TUNING: dict[str, tuple[tuple[str, ...], str]] = {
    "timeout_seconds": (("timeout", "timeout_seconds"), "timeout"),
    "max_retries": (("max_retries",), "max_retries"),
    "concurrency": (("concurrency",), "concurrency"),
    "dimension": (("dimension",), "dimension"),
    "batch_size": (("batch_size",), "batch_size"),
    "dimensions": (("dimensions",), "dimensions"),
}
_E = TypeVar("_E", bound=EndpointSettings)


def connection_base_url(conn: ConnectionInfo) -> str:
    """The base URL by the HTTP provider's rule (``HttpHook.get_conn`` / ``_set_base_url`` in
    ``airflow/providers/http/hooks/http.py``): a host holding ``://`` is the whole URL; otherwise
    ``schema`` is the scheme (default ``http``), then host and port.

    Two additions keep the URI form usable, where Airflow puts the URI's path into ``schema``
    (``http://:key@h:11434/v1``): a ``schema`` that is not ``http``/``https`` is a base path, and the
    scheme then comes from ``conn_type`` (``https`` only if the type says so).
    """
    host = (conn.host or "").strip()
    if "://" in host:
        return host
    schema = (conn.schema or "").strip().strip("/")
    path = ""
    if schema.lower() in ("http", "https"):
        scheme = schema.lower()
    else:
        scheme = "https" if conn.conn_type.lower() == "https" else "http"
        path = "/" + schema if schema else ""
    return f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "") + path


def resolve(kind: type[_E], conn_id: str, env: config.EndpointEnv, default_model: str) -> _E | None:
    """``kind`` from connection ``conn_id``, else from ``env``; None when neither names a base URL."""
    conn = get_connection(conn_id)
    extra: dict[str, Any] = {}
    env_group = type(env)
    if conn is not None and conn.host:
        extra = dict(conn.extra)
        origin = f"connection {conn_id!r}"
        values: dict[str, Any] = {"base_url": connection_base_url(conn), "api_key": conn.password or None,
                                  "model": str(extra.get("model") or "") or default_model}
        sources = {"base_url": f"the host of {origin}", "api_key": f"the password of {origin}",
                   "model": f"extra.model of {origin}"}
    elif env.base_url:
        values = {"base_url": env.base_url, "api_key": env.api_key, "model": env.model or default_model}
        sources = {field: env_group.env_name(field) for field in ("base_url", "api_key", "model")}
    else:
        return None
    for field, (keys, env_field) in _TUNING.items():
        if field not in kind.model_fields:
            continue
        key = next((k for k in keys if extra.get(k) not in (None, "")), None)
        if key is not None:
            values[field], sources[field] = extra[key], f"extra.{key} of connection {conn_id!r}"
        elif getattr(env, env_field, None) is not None:
            values[field], sources[field] = getattr(env, env_field), env_group.env_name(env_field)
    try:
        settings = kind(**values)
    except ValidationError as exc:
        raise config.settings_error(exc, sources, secrets={"api_key"}) from None
    if settings.api_key is not None:
        secrets_mask.register_secret(settings.api_key.get_secret_value())
    return settings


def llm_settings() -> LLMSettings | None:
    """The configured LLM (connection ``llm_default`` first, then the environment), or None: offline."""
    return resolve(LLMSettings, config.LLM_CONN_ID, config.llm_env(), DEFAULT_LLM_MODEL)


def embedding_settings() -> EmbeddingSettings | None:
    """The configured embedding endpoint (connection ``embedding_default`` first, then the environment), or None."""
    return resolve(EmbeddingSettings, config.EMBEDDING_CONN_ID, config.embedding_env(), DEFAULT_EMBEDDING_MODEL)
