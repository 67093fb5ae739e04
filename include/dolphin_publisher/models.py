"""Pydantic models: the workflow file format, the version snapshot, and what we return.

The workflow file is strict (unknown keys are typos, and a typo in ``retries`` should not silently
become the default); the snapshot is the exact input of the converter and is stored as JSON in
``workflow_version.structure_snapshot``.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema, field_validator

TASK_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$"
DS_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
INT_MAX = 2**31 - 1  # PostgreSQL integer columns, and DolphinScheduler's ids (Java int)
BIGINT_MAX = 2**63 - 1  # PostgreSQL bigint: platform workflow ids


# Text PostgreSQL can store: no NUL. A pattern also makes pydantic-core read the string as UTF-8, so
# lone surrogates (which have no UTF-8 form) are rejected too; both would otherwise fail in the
# database as server errors. Checked in Rust: a 5,000-task file costs no Python call per field.
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$")]
TaskId = Annotated[str, StringConstraints(pattern=TASK_ID_PATTERN)]
# DolphinScheduler gives times in its server's zone without saying which (``2025-01-01 10:00:00``), so
# they are stored and returned without a UTC offset; OpenAPI's date-time format would promise one.
DsTime = Annotated[datetime, WithJsonSchema({
    "type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$",
    "description": "DolphinScheduler server local time, ISO 8601 without a UTC offset"})]


class TaskType(StrEnum):
    SHELL = "SHELL"
    SQL = "SQL"
    PYTHON = "PYTHON"


class ReassignMode(StrEnum):
    """How a task that already belongs to another workflow is moved (seed: 仅当前/级联下游/级联上下游)."""

    ONLY_THIS = "only_this"
    CASCADE_DOWNSTREAM = "cascade_downstream"
    CASCADE_BOTH = "cascade_both"


class PublishOperation(StrEnum):
    DEPLOY = "deploy"
    ONLINE = "online"
    OFFLINE = "offline"


class RecordStatus(StrEnum):
    SUCCESS = "success"
    SKIPPED = "skipped"  # nothing changed: no write was sent
    FAILED = "failed"


class WorkflowStatus(StrEnum):
    """Platform state, independent of DolphinScheduler (seed §6.3)."""

    DRAFT = "draft"
    ONLINE = "online"
    OFFLINE = "offline"


class TriggerSource(StrEnum):
    MANUAL = "manual"
    FILE = "file"
    AIRFLOW_IMPORT = "airflow_import"
    ASSIGNMENT = "assignment"
    REASSIGNMENT = "reassignment"
    LINEAGE = "lineage"
    ROLLBACK = "rollback"


class InstanceState(StrEnum):
    """DolphinScheduler's state of a workflow instance, as its API spells it.

    Instance records keep the state as the plain string DolphinScheduler sent: a newer server may
    send one not listed here, which must not make an execution unreadable.
    """

    SUBMITTED_SUCCESS = "SUBMITTED_SUCCESS"
    RUNNING_EXECUTION = "RUNNING_EXECUTION"
    READY_PAUSE = "READY_PAUSE"
    PAUSE = "PAUSE"
    READY_STOP = "READY_STOP"
    STOP = "STOP"
    FAILURE = "FAILURE"
    SUCCESS = "SUCCESS"
    DELAY_EXECUTION = "DELAY_EXECUTION"
    SERIAL_WAIT = "SERIAL_WAIT"
    READY_BLOCK = "READY_BLOCK"
    BLOCK = "BLOCK"
    WAIT_TO_RUN = "WAIT_TO_RUN"

    def is_terminal(self) -> bool:
        """The instance stopped: it ends with an end time and changes only if someone restarts it."""
        return self in (InstanceState.SUCCESS, InstanceState.FAILURE, InstanceState.STOP, InstanceState.PAUSE)


class PublishStatus(StrEnum):
    UNPUBLISHED = "unpublished"
    DEPLOYED = "deployed"
    ONLINE = "online"
    OFFLINE = "offline"
    FAILED = "failed"


class TaskSpec(BaseModel):
    """One platform task as the workflow file and the snapshot hold it."""

    model_config = ConfigDict(extra="forbid")

    task_id: TaskId
    name: Text = Field(default="", max_length=200)
    type: TaskType = TaskType.SHELL
    command: Text | None = None
    sql: Text | None = None
    datasource: int | None = Field(default=None, ge=1, le=INT_MAX)
    datasource_type: Text = Field(default="POSTGRESQL", max_length=32)  # the column's width
    worker_group: Text = "default"
    retries: int = Field(default=0, ge=0, le=100)
    retry_delay_minutes: int = Field(default=1, ge=0, le=10_080)
    timeout_minutes: int = Field(default=0, ge=0, le=525_600)
    description: Text = ""

    def model_post_init(self, _context: Any) -> None:
        if not self.name:
            self.name = self.task_id


class ScheduleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cron: Text = Field(min_length=1)
    timezone: Text = "UTC"
    start_time: Text | None = None
    end_time: Text | None = None

    @field_validator("start_time", "end_time")
    @classmethod
    def _ds_date(cls, value: str | None) -> str | None:
        if value is not None:
            datetime.strptime(value, DS_DATE_FORMAT)  # raises ValueError → pydantic error
        return value


class GlobalParam(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prop: Text = Field(min_length=1, max_length=255)
    value: Text = ""
    direct: Text = "IN"
    type: Text = "VARCHAR"


class WorkflowFile(BaseModel):
    """The JSON file of ``create --file`` / ``update --file`` and the body of ``POST /workflows``.

    ``tasks`` are upserted as platform tasks; ``task_ids`` reference tasks that already exist.
    ``dependencies`` omitted (null) means "derive the edges from lineage".
    """

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=200)
    description: Text = ""
    schedule: ScheduleSpec | None = None
    tasks: list[TaskSpec] = Field(default_factory=list)
    task_ids: list[TaskId] = Field(default_factory=list)
    dependencies: list[tuple[TaskId, TaskId]] | None = None
    global_params: list[GlobalParam] = Field(default_factory=list)
    reassign_mode: ReassignMode | None = None

    @field_validator("name")
    @classmethod
    def _no_control_chars(cls, value: str) -> str:
        if re.search(r"[\x00-\x1f]", value) or value != value.strip():
            raise ValueError("name must not contain control characters or surrounding spaces")
        return value


class WorkflowSnapshot(BaseModel):
    """The structure of one version: everything the converter needs, nothing environment-specific."""

    model_config = ConfigDict(extra="ignore")

    name: str
    description: str = ""
    schedule: ScheduleSpec | None = None
    global_params: list[GlobalParam] = Field(default_factory=list)
    tasks: list[TaskSpec] = Field(default_factory=list)
    dependencies: list[tuple[str, str]] = Field(default_factory=list)
    entry_task_ids: list[str] = Field(default_factory=list)
    exit_task_ids: list[str] = Field(default_factory=list)


class WorkflowSummary(BaseModel):
    id: int
    name: str
    description: str
    status: WorkflowStatus
    publish_status: PublishStatus
    current_version: int | None
    last_published_version: int | None
    workflow_code: int | None
    project_code: int | None
    engine_release_state: str | None
    last_execution_state: str | None
    last_execution_time: DsTime | None
    task_count: int
    updated_at: datetime


class WorkflowDetail(WorkflowSummary):
    publish_error_code: int | None = None
    publish_error_message: str | None = None
    schedule: ScheduleSpec | None = None
    global_params: list[GlobalParam] = Field(default_factory=list)
    tasks: list[TaskSpec] = Field(default_factory=list)
    dependencies: list[tuple[str, str]] = Field(default_factory=list)
    entry_task_ids: list[str] = Field(default_factory=list)
    exit_task_ids: list[str] = Field(default_factory=list)
    dolphinscheduler_url: str | None = None
    recent_executions: list[InstanceRecord] = Field(default_factory=list)
    recent_publish_records: list[PublishRecord] = Field(default_factory=list)


class VersionInfo(BaseModel):
    id: int
    workflow_id: int
    version_no: int
    trigger_source: str
    change_summary: dict[str, Any]
    created_by: str
    created_at: datetime
    content_hash: str
    structure_snapshot: WorkflowSnapshot | None = None


class PublishRecord(BaseModel):
    id: int
    workflow_id: int
    version_id: int | None
    version_no: int | None
    operation: PublishOperation
    status: RecordStatus
    target_engine: str
    engine_workflow_code: int | None
    engine_version: int | None
    error_code: int | None
    error_message: str | None
    log: str
    operator: str
    created_at: datetime


class InstanceRecord(BaseModel):
    instance_id: int
    workflow_id: int
    engine_workflow_code: int | None
    name: str | None
    state: str | None
    command_type: str | None
    start_time: DsTime | None
    end_time: DsTime | None
    duration: str | None
    run_times: int | None
    host: str | None
    executor_name: str | None
    started_by: str | None
    synced_at: datetime


class TaskInfo(BaseModel):
    """A platform task in the task list, with its owner and lineage counts."""

    task_id: str
    name: str
    type: str
    workflow_id: int | None
    workflow_name: str | None
    upstream_task_count: int
    downstream_task_count: int
    engine_task_code: int | None
    workflow_inheritance_mode: str | None


WorkflowDetail.model_rebuild()
