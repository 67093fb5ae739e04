"""The pipeline's view of the product settings (``platform_db.settings``), under the names it has always used.

Every environment variable and Airflow connection id is declared in ``platform_db.settings``, which
``dolphin_publisher`` shares without depending on this package; ``config.data_dir()``,
``config.limits()`` and the rest read the environment at call time.
"""

from platform_db.settings import (
    CONNECTION_ENV_PREFIX,
    DEMO_DB_CONN_ID,
    DOLPHINSCHEDULER_CONN_ID,
    EMBEDDING_CONN_ID,
    LLM_CONN_ID,
    PLATFORM_DB_CONN_ID,
    PROJECT_ROOT,
    AirflowEnv,
    Databases,
    DolphinEnv,
    EmbeddingEnv,
    EndpointEnv,
    EnvSettings,
    Limits,
    LLMEnv,
    MiB,
    Paths,
    SettingsError,
    airflow,
    child_environment,
    connection_env_name,
    connection_uri,
    data_dir,
    databases,
    described,
    dolphin,
    embedding_env,
    limits,
    llm_env,
    local_dir,
    override,
    path_list,
    paths,
    schedules_file,
    settings_error,
)

__all__ = [
    "CONNECTION_ENV_PREFIX",
    "DEMO_DB_CONN_ID",
    "DOLPHINSCHEDULER_CONN_ID",
    "EMBEDDING_CONN_ID",
    "LLM_CONN_ID",
    "PLATFORM_DB_CONN_ID",
    "PROJECT_ROOT",
    "AirflowEnv",
    "Databases",
    "DolphinEnv",
    "EmbeddingEnv",
    "EndpointEnv",
    "EnvSettings",
    "LLMEnv",
    "Limits",
    "MiB",
    "Paths",
    "SettingsError",
    "airflow",
    "child_environment",
    "connection_env_name",
    "connection_uri",
    "data_dir",
    "databases",
    "described",
    "dolphin",
    "embedding_env",
    "limits",
    "llm_env",
    "local_dir",
    "override",
    "path_list",
    "paths",
    "schedules_file",
    "settings_error",
]


def airflow_api_url() -> str | None:
    """Airflow's REST API as the task API reaches it (``DATA_PIPELINE_AIRFLOW_API_URL``), if set."""
    value = (airflow().api_url or "").strip().rstrip("/")
    return value or None
