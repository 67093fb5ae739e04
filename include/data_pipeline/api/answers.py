"""The ``data`` of every successful answer of the task API, as named models for the OpenAPI document.

Routes build plain dicts (serialised by the fast encoder); these models describe them. Results that
come from the package as dicts keep extra keys allowed, so a new field there never breaks an answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from data_pipeline.tasks.store import LogRecord, StepRecord


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class TaskOut(BaseModel):
    task_id: str
    task_name: str | None = None
    task_type: str
    status: str
    parameters: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    error_message: str | None = None
    error_step: str | None = None
    progress: int = 0
    current_step: str | None = None
    step_status: dict[str, str] = {}
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
    duration_seconds: float | None = None


class TaskDetail(TaskOut):
    steps: list[StepRecord]
    backup: dict[str, Any] | None = None
    table_list_present: bool
    waiting_reason: str | None = None
    """Set while the task is in progress but its run does not work: why (a paused DAG, a queued run, a task
    waiting for a worker or pool slot) and what to do."""


class TaskList(BaseModel):
    tasks: list[TaskOut]
    total: int
    limit: int
    offset: int


class Pagination(BaseModel):
    page: int
    page_size: int
    total: int
    total_pages: int
    has_next: bool | None = None
    has_prev: bool | None = None


class TaskQueryPage(BaseModel):
    tasks: list[TaskOut]
    pagination: Pagination


class ActiveTasks(BaseModel):
    tasks: list[TaskOut]
    count: int
    max_concurrent_tasks: int


class RunStarted(BaseModel):
    task_id: str
    dag_id: str
    dag_run_id: str
    execution_mode: str
    step_name: str | None = None
    steps: list[str]
    status: str


class TaskDeleted(_Open):
    task_id: str
    directory_deleted: bool
    database_records_deleted: bool
    deleted_files_count: int
    deleted_bytes: int
    deleted_size: str
    deleted_at: str
    note: str | None = None


class TasksDeleted(_Open):
    deleted_tasks: list[dict[str, Any]]
    failed_tasks: list[dict[str, Any]]
    summary: dict[str, Any]
    deleted_at: str


class TaskLogs(BaseModel):
    task_id: str
    logs: list[LogRecord]
    total: int


class TaskLogPage(BaseModel):
    task_id: str
    logs: list[LogRecord]
    pagination: Pagination


class TaskFile(BaseModel):
    file_name: str
    file_path: str
    file_size: int
    file_type: str
    modified_at: datetime | None = None
    can_download: bool = True


class TaskFiles(BaseModel):
    task_id: str
    directory_exists: bool
    files: list[TaskFile]
    file_count: int
    total_bytes: int
    total_size: str | None = None


class FileUploaded(BaseModel):
    task_id: str
    file_name: str
    action: str
    file_size: int | None = None
    backup_directory: str | None = None
    reason: str | None = None


class TableListSet(BaseModel):
    task_id: str
    table_count: int
    tables: list[str]
    warnings: list[str]
    file_size: int


class TableListInfo(BaseModel):
    task_id: str
    exists: bool
    file_size: int | None = None
    modified_at: datetime | None = None
    valid: bool | None = None
    table_count: int | None = None
    tables: list[str] | None = None
    warnings: list[str] | None = None
    error: str | None = None


class FileBackups(BaseModel):
    task_id: str
    backups: list[dict[str, Any]]
    count: int


class BackupRestored(_Open):
    restored_from: str
    restored_files: list[str]
    failed_files: list[Any]
    current_files_backup: dict[str, Any] | None = None


class VectorBackup(_Open):
    backup_name: str


class VectorBackups(BaseModel):
    task_id: str
    backups: list[dict[str, Any]]


class VectorRestored(_Open):
    backup_name: str
    mode: str
