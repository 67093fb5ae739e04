"""Settings read from the environment. Airflow connections are resolved in ``platform_db``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024


def data_dir() -> Path:
    """Root of all task directories: ``DATA_PIPELINE_DATA_DIR`` or ``<project>/data_pipeline/training_data``."""
    configured = os.environ.get("DATA_PIPELINE_DATA_DIR")
    path = Path(configured) if configured else PROJECT_ROOT / "data_pipeline" / "training_data"
    return path.expanduser().resolve()


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


@dataclass(frozen=True)
class Limits:
    max_concurrent_tasks: int = 1
    task_timeout_hours: int = 2
    retention_days: int = 30
    max_download_bytes: int = 100 * MiB
    max_table_list_bytes: int = 2 * MiB
    max_upload_bytes: int = 10 * MiB
    max_tables: int = 1000
    max_batch_delete: int = 100


def limits() -> Limits:
    base = Limits()
    return Limits(
        max_concurrent_tasks=_int_env("DATA_PIPELINE_MAX_CONCURRENT_TASKS", base.max_concurrent_tasks),
        task_timeout_hours=_int_env("DATA_PIPELINE_TASK_TIMEOUT_HOURS", base.task_timeout_hours),
        retention_days=_int_env("DATA_PIPELINE_RETENTION_DAYS", base.retention_days),
        max_download_bytes=_int_env("DATA_PIPELINE_MAX_DOWNLOAD_BYTES", base.max_download_bytes),
        max_table_list_bytes=_int_env("DATA_PIPELINE_MAX_TABLE_LIST_BYTES", base.max_table_list_bytes),
        max_upload_bytes=_int_env("DATA_PIPELINE_MAX_UPLOAD_BYTES", base.max_upload_bytes),
        max_tables=_int_env("DATA_PIPELINE_MAX_TABLES", base.max_tables),
        max_batch_delete=_int_env("DATA_PIPELINE_MAX_BATCH_DELETE", base.max_batch_delete),
    )


def airflow_api_url() -> str | None:
    """Airflow's REST API as the task API reaches it (``DATA_PIPELINE_AIRFLOW_API_URL``), if set."""
    value = os.environ.get("DATA_PIPELINE_AIRFLOW_API_URL", "").strip().rstrip("/")
    return value or None
