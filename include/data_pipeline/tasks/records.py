"""What the task store reads and writes: task, step, log and output rows, listing queries and pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field

from data_pipeline.tasks.status import StepStatus, TaskStatus

# How a task came to be (it picks the id prefix); the ``created_by`` column holds this kind, or for tasks
# created through the task API the authenticated user's name (``owner``).
CreatedBy = Literal["api", "manual", "schedule", "airflow", "system"]
OWNER_MAX_LENGTH = 256

# Task columns a caller may set (``TaskStore.update_task``); the rest belong to the store itself.
UPDATABLE_COLUMNS = frozenset({
    "task_name", "status", "result", "error_message", "error_step", "progress", "current_step",
    "step_status", "started_at", "completed_at", "output_directory", "db_name", "business_context",
    "directory_exists", "dag_run_id", "dag_id", "parameters",
})
JSON_COLUMNS = frozenset({"result", "step_status", "parameters", "selected_steps"})

BRIEF_COLUMNS = sql.SQL(
    "id, task_name, task_type, status, error_message, error_step, progress, current_step, step_status, created_at, "
    "started_at, completed_at, updated_at, created_by, output_directory, db_name, business_context, "
    "directory_exists, dag_run_id, dag_id, selected_steps"
)
TASK_COLUMNS = sql.SQL(
    "id, task_name, task_type, status, parameters, result, error_message, error_step, progress, current_step, "
    "step_status, created_at, started_at, completed_at, updated_at, created_by, output_directory, db_name, "
    "business_context, directory_exists, dag_run_id, dag_id, selected_steps"
)


def escape_like(value: str) -> str:
    """A user's search text as a literal inside an ``ILIKE`` pattern."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class TaskRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    task_name: str | None = None
    task_type: str
    status: TaskStatus
    parameters: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] | None = None
    error_message: str | None = None
    error_step: str | None = None
    progress: int = 0
    current_step: str | None = None
    step_status: dict[str, str] = Field(default_factory=dict)
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    updated_at: datetime | None = None
    created_by: str | None = None
    output_directory: str | None = None
    db_name: str | None = None
    business_context: str | None = None
    directory_exists: bool = True
    dag_run_id: str | None = None
    dag_id: str | None = None
    selected_steps: list[str] | None = None
    """The steps the latest run selected (None before a first run); the other steps keep their last state."""

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.completed_at or datetime.now(UTC)
        return round((end - self.started_at).total_seconds(), 3)


class StepRecord(BaseModel):
    step_name: str
    status: StepStatus
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_seconds: float | None = None
    error_message: str | None = None
    execution_id: str | None = None
    dag_run_id: str | None = None
    try_number: int = 0
    result: dict[str, Any] | None = None
    progress_done: int = 0
    progress_total: int = 0
    updated_at: datetime | None = None
    selected: bool = False
    """Whether the task's latest run selected this step; an unselected step shows its last run's state."""


class LogRecord(BaseModel):
    id: int
    task_id: str
    log_level: str
    message: str
    step_name: str | None = None
    module_name: str | None = None
    function_name: str | None = None
    timestamp: datetime
    extra_data: dict[str, Any] = Field(default_factory=dict)


class OutputRecord(BaseModel):
    file_type: str
    file_name: str
    file_path: str
    file_size: int = 0
    content_hash: str | None = None
    description: str | None = None
    is_primary: bool = False
    is_downloadable: bool = True
    modified_at: datetime | None = None


class TaskQuery(BaseModel):
    """Filters, paging and sorting of a task listing; every field is optional."""

    status: list[TaskStatus] | None = None
    task_type: str | None = None
    created_by: str | None = None
    db_name: str | None = None
    dag_run_id: str | None = None
    search: str | None = Field(default=None, max_length=200)
    created_after: datetime | None = None
    created_before: datetime | None = None
    directory_exists: bool | None = None
    sort_by: Literal[
        "created_at", "updated_at", "started_at", "completed_at", "status", "id", "task_name", "progress",
        "db_name",
    ] = "created_at"
    sort_order: Literal["asc", "desc"] = "desc"
    limit: int = Field(default=50, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=10_000_000)


class TaskPage(BaseModel):
    items: list[TaskRecord]
    total: int
    limit: int
    offset: int


class ClaimResult(BaseModel):
    task: TaskRecord
    running_count: int
