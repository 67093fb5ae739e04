"""Request bodies and answer ``data`` of the ``/api/v1`` routes (they make its OpenAPI document)."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from dolphin_publisher.models import BIGINT_MAX, INT_MAX, PublishOperation, ReassignMode, TaskId, TaskSpec, Text

D = TypeVar("D")


class Page(BaseModel, Generic[D]):
    items: list[D]
    total: int
    limit: int
    offset: int


class WorkflowRefOut(BaseModel):
    workflow_id: int
    name: str
    version: int
    changed: bool


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operation: PublishOperation


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1, le=INT_MAX)
    reassign_mode: ReassignMode | None = None


class StartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    params: dict[Text, Text] = Field(default_factory=dict)
    failure_strategy: str = Field(default="CONTINUE", pattern="^(CONTINUE|END)$")
    dry_run: bool = False


class BatchStartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workflow_ids: list[Annotated[int, Field(ge=1, le=BIGINT_MAX)]] = Field(min_length=1, max_length=100)


class AssignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task_ids: list[TaskId] = Field(min_length=1, max_length=5000)
    mode: ReassignMode | None = None
    dependencies: list[tuple[TaskId, TaskId]] | None = None


class ReassignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workflow_id: int = Field(ge=1, le=BIGINT_MAX)
    mode: ReassignMode


class TasksUpsertRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tasks: list[TaskSpec] = Field(min_length=1, max_length=5000)


class _Open(BaseModel):
    """Answers built by the publisher as dicts: the known keys, and room for more."""

    model_config = ConfigDict(extra="allow")


class WorkflowDeleted(BaseModel):
    workflow_id: int
    deleted_engine_workflow_code: int | None = None


class VersionDiff(_Open):
    from_version: int
    to_version: int
    tasks_added: list[str]
    tasks_removed: list[str]
    tasks_changed: dict[str, Any]
    dependencies_added: list[list[str]]
    dependencies_removed: list[list[str]]
    properties_changed: dict[str, Any]
    summary: str


class InstancesStarted(_Open):
    workflow_id: int
    engine_workflow_code: int
    instance_ids: list[int]


class BatchStarted(_Open):
    workflow_ids: list[int]
    engine_workflow_codes: list[int]
    result: Any = None


class InstanceTasks(_Open):
    instance_id: int
    state: str | None = None
    tasks: list[dict[str, Any]]


class TaskLog(_Open):
    task_instance_id: int
    line_num: int
    message: str


class SyncReport(_Open):
    workflow_id: int
    instances: int
    failures: list[dict[str, Any]]
    note: str | None = None


class TasksSaved(BaseModel):
    task_ids: list[str]
