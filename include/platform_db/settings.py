"""The product's settings: every environment variable it reads, declared once, and its Airflow connection ids.

Each accessor reads the environment when it is called, so a changed variable (a test's monkeypatch, the
CLI's ``--output-dir``) applies at once. A blank variable counts as unset. A value of the wrong type
raises ``SettingsError`` naming the variable. This module is the only one that touches ``os.environ``:
code that prepares a child process's environment asks ``override``, ``child_environment`` or
``path_list`` here. It lives in ``platform_db``, the package ``data_pipeline`` and ``dolphin_publisher``
both build on, because ``dolphin_publisher`` must not depend on ``data_pipeline``; the pipeline reads it
as ``data_pipeline.config``. It imports nothing else of this project.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024

# -- Airflow connection ids -------------------------------------------------------------------------
# Inside Airflow they resolve through Airflow; elsewhere through ``AIRFLOW_CONN_<ID>`` (see ``connection_uri``).

PLATFORM_DB_CONN_ID = "data_pipeline_db"  # the platform's own PostgreSQL: tasks, vectors, workflow tables
LLM_CONN_ID = "llm_default"  # OpenAI-compatible chat endpoint: host = base URL, password = API key
EMBEDDING_CONN_ID = "embedding_default"  # OpenAI-compatible /embeddings endpoint, same shape as the LLM's
DOLPHINSCHEDULER_CONN_ID = "dolphinscheduler_default"  # host = REST base URL, password = access token
DEMO_DB_CONN_ID = "highway_demo"  # business database of the local demo; a task names its own in ``db_conn_id``
CONNECTION_ENV_PREFIX = "AIRFLOW_CONN_"


class SettingsError(ValueError):
    """An environment variable (or connection field) holds a value of the wrong type: the server is misconfigured."""

    def __init__(self, message: str, sources: list[str]) -> None:
        super().__init__(message)
        self.message = message
        self.sources = sources  # the variables (or connection fields) at fault


_S = TypeVar("_S", bound="EnvSettings")
_loaded: dict[tuple[type[EnvSettings], tuple[str | None, ...]], EnvSettings] = {}  # by the variables' values


class EnvSettings(BaseSettings):
    """Base of every group: its declared variables are the only source, blanks count as unset, instances frozen."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _DeclaredVariables(settings_cls))  # no .env file, no secrets directory

    @model_validator(mode="before")
    @classmethod
    def _drop_blanks(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {k: v.strip() if isinstance(v, str) else v for k, v in data.items()
                if not (isinstance(v, str) and not v.strip())}

    @classmethod
    def env_name(cls, field: str) -> str:
        """The variable behind ``field`` (its alias, or the group's prefix + its name)."""
        return _env_name(cls, field)

    @classmethod
    def load(cls: type[_S]) -> _S:
        """The group as the environment has it now; a bad value raises ``SettingsError`` naming its variable.

        Built once per distinct set of values (validation costs ~100 µs; looking the values up, ~1 µs).
        """
        key = (cls, tuple(map(os.environ.get, _variables(cls))))
        found = _loaded.get(key)
        if found is None:
            try:
                found = cls()
            except ValidationError as exc:
                raise cls._error(exc) from None
            if len(_loaded) > 256:  # a test suite changing values many times: keep memory bounded
                _loaded.clear()
            _loaded[key] = found
        return found  # type: ignore[return-value]  # keyed by cls, so it is a cls

    @classmethod
    def _error(cls, exc: ValidationError) -> SettingsError:
        names = {info.alias or field: cls.env_name(field) for field, info in cls.model_fields.items()}
        secrets = {info.alias or field for field, info in cls.model_fields.items()
                   if "SecretStr" in str(info.annotation)}
        return settings_error(exc, names, secrets)


_EXPECTED = {"int_parsing": "an integer", "int_from_float": "an integer", "float_parsing": "a number",
             "bool_parsing": "true or false"}


def settings_error(exc: ValidationError, names: Mapping[str, str], secrets: Collection[str] = ()) -> SettingsError:
    """One message naming, for every invalid value, where it came from (``names``: error location -> source).

    Values of the ``secrets`` locations are never repeated in the message.
    """
    messages, sources = [], []
    for error in exc.errors():
        key = str(error["loc"][0]) if error["loc"] else ""
        source = names.get(key, key)
        got = "" if key in secrets else f", got {error.get('input')!r}"
        expected = _EXPECTED.get(error["type"])
        messages.append(f"{source} must be {expected}{got}" if expected else f"{source}: {error['msg']}{got}")
        sources.append(source)
    return SettingsError("; ".join(messages), sources)


def _env_name(group: type[BaseSettings], field: str) -> str:
    info = group.model_fields[field]
    return info.alias or (str(group.model_config.get("env_prefix") or "") + field).upper()


@functools.cache
def _variables(group: type[BaseSettings]) -> tuple[str, ...]:
    return tuple(_env_name(group, field) for field in group.model_fields)


class _DeclaredVariables(PydanticBaseSettingsSource):
    """Exactly the variables a group declares, by their exact names (no JSON decoding, no case folding)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        name = _env_name(self.settings_cls, field_name)
        return os.environ.get(name), name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field, info in self.settings_cls.model_fields.items():
            value, _, _ = self.get_field_value(info, field)
            if value is not None:
                values[info.alias or field] = value
        return values


# -- files and folders --------------------------------------------------------------------------------


class Paths(EnvSettings):
    data_dir: Path = Field(default_factory=lambda: PROJECT_ROOT / "data_pipeline" / "training_data",
                           alias="DATA_PIPELINE_DATA_DIR", description="Root of all task directories.")
    local_dir: Path = Field(default_factory=lambda: PROJECT_ROOT / ".local", alias="DATA_PIPELINE_LOCAL_DIR",
                            description="Git-ignored runtime state: embedded PostgreSQL data, local Airflow home.")
    schedules_file: Path = Field(default_factory=lambda: PROJECT_ROOT / "dags" / "data_pipeline_schedules.json",
                                 alias="DATA_PIPELINE_SCHEDULES_FILE",
                                 description="JSON list of scheduled pipeline runs the schedule DAG factory reads.")


def paths() -> Paths:
    return Paths.load()


def data_dir() -> Path:
    """Root of all task directories: ``DATA_PIPELINE_DATA_DIR`` or ``<project>/data_pipeline/training_data``."""
    return paths().data_dir.expanduser().resolve()


def local_dir() -> Path:
    """``DATA_PIPELINE_LOCAL_DIR`` or ``<project>/.local``."""
    return paths().local_dir.expanduser().resolve()


def schedules_file() -> Path:
    return paths().schedules_file


# -- limits -------------------------------------------------------------------------------------------


class Limits(EnvSettings):
    max_concurrent_tasks: int = Field(1, alias="DATA_PIPELINE_MAX_CONCURRENT_TASKS",
                                      description="Pipeline tasks allowed to run at the same time.")
    task_timeout_hours: int = Field(2, alias="DATA_PIPELINE_TASK_TIMEOUT_HOURS",
                                    description="A running task older than this is marked failed by maintenance.")
    retention_days: int = Field(30, alias="DATA_PIPELINE_RETENTION_DAYS",
                                description="Finished task directories older than this are deleted by maintenance.")
    max_download_bytes: int = Field(100 * MiB, alias="DATA_PIPELINE_MAX_DOWNLOAD_BYTES",
                                    description="Largest task file (or archive) the API serves.")
    max_table_list_bytes: int = Field(2 * MiB, alias="DATA_PIPELINE_MAX_TABLE_LIST_BYTES",
                                      description="Largest table-list upload.")
    max_upload_bytes: int = Field(10 * MiB, alias="DATA_PIPELINE_MAX_UPLOAD_BYTES",
                                  description="Largest file upload into a task directory.")
    max_tables: int = Field(1000, alias="DATA_PIPELINE_MAX_TABLES", description="Most tables one task may list.")
    max_batch_delete: int = Field(100, alias="DATA_PIPELINE_MAX_BATCH_DELETE",
                                  description="Most tasks one batch-delete request may name.")
    task_retry_delay_seconds: float = Field(15.0, ge=0, le=3600, alias="DATA_PIPELINE_TASK_RETRY_DELAY_SECONDS",
                                            description="Wait before Airflow retries a failed pipeline task "
                                                        "(doubles with each retry); read when the DAG is parsed.")


def limits() -> Limits:
    return Limits.load()


# -- databases ------------------------------------------------------------------------------------------


class Databases(EnvSettings):
    db_uri: str | None = Field(None, alias="DATA_PIPELINE_DB_URI",
                               description="Platform database URI; else connection data_pipeline_db, else embedded.")
    vector_db_uri: str | None = Field(None, alias="DATA_PIPELINE_VECTOR_DB_URI",
                                      description="Database of the vector tables, if not the platform database.")


def databases() -> Databases:
    return Databases.load()


class SmokeCheck(EnvSettings):
    enabled: bool = Field(True, alias="DATA_PIPELINE_SMOKE_CHECK_ENABLED",
                          description="Load the training_data_smoke_check DAG (runs after each training load).")
    top_k: int = Field(3, ge=1, le=50, alias="DATA_PIPELINE_SMOKE_CHECK_TOP_K",
                       description="A stored question passes when its own pair is among this many nearest rows.")


def smoke_check() -> SmokeCheck:
    return SmokeCheck.load()


class BusinessDbPolicy(EnvSettings):
    """Which business databases a task may read: an operator's decision, so nothing is allowed by default."""

    allowed_conn_ids: str | None = Field(None, alias="DATA_PIPELINE_ALLOWED_DB_CONN_IDS",
                                         description="Comma-separated Airflow connection ids tasks may read "
                                                     "(an entry ending in * is a prefix); connections with extra "
                                                     "data_pipeline_business_db=true are allowed too.")
    allowed_hosts: str | None = Field(None, alias="DATA_PIPELINE_ALLOWED_DB_HOSTS",
                                      description="Comma-separated host:port (or /socket/dir:port, host:*, *) a "
                                                  "db_connection URI may name; unset means URIs are refused.")

    def conn_id_entries(self) -> list[str]:
        return _entries(self.allowed_conn_ids)

    def host_entries(self) -> list[str]:
        return _entries(self.allowed_hosts)


def _entries(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def business_db_policy() -> BusinessDbPolicy:
    return BusinessDbPolicy.load()


def connection_uri(conn_id: str) -> str | None:
    """``AIRFLOW_CONN_<ID>``: an Airflow connection in URI or JSON form, or None when unset or blank."""
    value = os.environ.get(CONNECTION_ENV_PREFIX + conn_id.upper(), "").strip()
    return value or None


def connection_env_name(conn_id: str) -> str:
    return CONNECTION_ENV_PREFIX + conn_id.upper()


# -- LLM and embedding endpoints --------------------------------------------------------------------
# Used when their connection (``llm_default`` / ``embedding_default``) is absent; the tuning values also
# fill in what the connection's extra leaves out.


class EndpointEnv(EnvSettings):
    """An OpenAI-compatible endpoint as environment variables: ``<prefix>BASE_URL`` and the rest."""

    base_url: str | None = Field(None, description="Base URL, usually ending in /v1; unset means offline.")
    api_key: SecretStr | None = Field(None, description="API key, sent only as the Authorization header.")
    model: str | None = Field(None, description="Model name.")
    timeout: float | None = Field(None, description="Read timeout per request, seconds.")
    max_retries: int | None = Field(None, description="Retries of a transient failure after the first attempt.")


class LLMEnv(EndpointEnv):
    model_config = SettingsConfigDict(env_prefix="DATA_PIPELINE_LLM_")

    concurrency: int | None = Field(None, description="Simultaneous requests per client.")


class EmbeddingEnv(EndpointEnv):
    model_config = SettingsConfigDict(env_prefix="DATA_PIPELINE_EMBEDDING_")

    dimension: int | None = Field(None, description="Vector length; unset means ask the endpoint once.")
    batch_size: int | None = Field(None, description="Texts per /embeddings request.")
    dimensions: int | None = Field(None, description="Sent as `dimensions` to models that can shorten their "
                                   "vectors (text-embedding-3-*); unset means the model's own length.")


def llm_env() -> LLMEnv:
    return LLMEnv.load()


def embedding_env() -> EmbeddingEnv:
    return EmbeddingEnv.load()


# -- Airflow and DolphinScheduler -------------------------------------------------------------------


class AirflowEnv(EnvSettings):
    api_url: str | None = Field(None, alias="DATA_PIPELINE_AIRFLOW_API_URL",
                                description="Airflow REST API the task API triggers runs through "
                                            "(default: Airflow's [api] base_url, else the local api-server address).")
    dags_folder: Path = Field(default_factory=lambda: PROJECT_ROOT / "dags", alias="AIRFLOW__CORE__DAGS_FOLDER",
                              description="Airflow's DAG folder; the workflow importer parses DAGs from it.")
    plugins_folder: Path = Field(default_factory=lambda: PROJECT_ROOT / "plugins",
                                 alias="AIRFLOW__CORE__PLUGINS_FOLDER",
                                 description="Airflow's plugins folder; DAG files may import from it.")
    metadata_db_uri: SecretStr | None = Field(None, alias="AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
                                              description="Airflow's metadata database; tasks may never read it.")


def airflow() -> AirflowEnv:
    return AirflowEnv.load()


class DolphinEnv(EnvSettings):
    environment: str = Field("default", alias="DOLPHIN_PUBLISHER_ENV",
                             description="workflow_integration_config row used without connection "
                                         "dolphinscheduler_default.")
    gateway_address: str | None = Field(None, alias="PYDS_JAVA_GATEWAY_ADDRESS",
                                        description="Java gateway host, when the connection names none.")
    gateway_port: int | None = Field(None, alias="PYDS_JAVA_GATEWAY_PORT", gt=0,
                                     description="Java gateway port, when the connection names none.")
    gateway_token: SecretStr | None = Field(None, alias="PYDS_JAVA_GATEWAY_AUTH_TOKEN",
                                            description="Java gateway auth token, when the connection names none.")


def dolphin() -> DolphinEnv:
    return DolphinEnv.load()


# -- the environment of this process and its children ---------------------------------------------

_GROUPS: tuple[type[EnvSettings], ...] = (Paths, Limits, Databases, BusinessDbPolicy, AirflowEnv, DolphinEnv)


def override(**values: str | Path | int | None) -> None:
    """Set settings for this process and the children it starts, by field name (``override(data_dir=p)``).

    ``None`` removes the variable. The new value is validated first, so a bad one fails here.
    """
    names: dict[str, tuple[type[EnvSettings], str]] = {}
    for group in _GROUPS:
        for field in group.model_fields:
            names.setdefault(field, (group, group.env_name(field)))
    for field, value in values.items():
        if field not in names:
            raise TypeError(f"no setting named {field!r}")
        group, env = names[field]
        if value is None:
            os.environ.pop(env, None)
            continue
        text = str(Path(value).resolve()) if isinstance(value, Path) else str(value)
        try:
            group.model_validate({env: text})
        except ValidationError as exc:
            raise group._error(exc) from None
        os.environ[env] = text


def child_environment(*, drop_prefixes: Iterable[str] = ()) -> dict[str, str]:
    """A copy of this process's environment for a child process, without variables starting with a prefix."""
    prefixes = tuple(drop_prefixes)
    return {k: v for k, v in os.environ.items() if not (prefixes and k.startswith(prefixes))}


def path_list(variable: str, *first: str | Path) -> str:
    """``first`` entries, then the current value of a path-list variable (``PATH``, ``PYTHONPATH``)."""
    entries = [str(p) for p in first] + [p for p in os.environ.get(variable, "").split(os.pathsep) if p]
    return os.pathsep.join(entries)


def described() -> dict[str, str]:
    """Every declared variable and its one-line description (for documentation and ``--help`` texts)."""
    result: dict[str, str] = {}
    for group in (*_GROUPS, LLMEnv, EmbeddingEnv):
        for field, info in group.model_fields.items():
            result[group.env_name(field)] = info.description or ""
    result[CONNECTION_ENV_PREFIX + "<CONN_ID>"] = "An Airflow connection (URI or JSON) read outside Airflow."
    return result

