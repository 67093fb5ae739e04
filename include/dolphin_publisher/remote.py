"""What DolphinScheduler answers with: definitions, instances, task instances, schedules, pages.

Lenient on purpose: unknown fields are ignored and DolphinScheduler's ``yyyy-MM-dd HH:mm:ss``
times are parsed (a malformed one becomes ``None``), so a newer server does not break reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from dolphin_publisher.errors import DolphinProtocolError
from dolphin_publisher.models import DS_DATE_FORMAT


def parse_ds_time(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value[:19], DS_DATE_FORMAT)
    except ValueError:
        return None


def _coerce_time(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else parse_ds_time(value)


class _Remote(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _RemoteRun(_Remote):
    """What instances and task instances share: DolphinScheduler times and a free-form duration."""

    @field_validator("start_time", "end_time", "schedule_time", mode="before", check_fields=False)
    @classmethod
    def _time(cls, value: Any) -> datetime | None:
        return _coerce_time(value)

    @field_validator("duration", mode="before", check_fields=False)
    @classmethod
    def _duration(cls, value: Any) -> str | None:
        return None if value is None else str(value)


class RemoteTask(_Remote):
    code: int
    name: str = ""
    version: int = 0
    task_type: str | None = Field(default=None, alias="taskType")
    task_params: Any = Field(default=None, alias="taskParams")


class RemoteRelation(_Remote):
    pre_task_code: int = Field(alias="preTaskCode")
    post_task_code: int = Field(alias="postTaskCode")


class RemoteDefinition(_Remote):
    code: int
    name: str = ""
    version: int | None = None
    release_state: str | None = Field(default=None, alias="releaseState")
    schedule_release_state: str | None = Field(default=None, alias="scheduleReleaseState")
    description: str | None = None
    tasks: list[RemoteTask] = Field(default_factory=list)
    relations: list[RemoteRelation] = Field(default_factory=list)

    @classmethod
    def from_data(cls, data: Any) -> RemoteDefinition:
        """Accept both the DagData shape (definition + lists) and a bare definition object."""
        if not isinstance(data, Mapping):
            raise DolphinProtocolError(f"expected a workflow definition object, got {type(data).__name__}")
        definition = data.get("workflowDefinition") or data.get("processDefinition") or data
        tasks = data.get("taskDefinitionList") or []
        relations = data.get("workflowTaskRelationList") or data.get("processTaskRelationList") or []
        return cls.model_validate({**definition, "tasks": tasks, "relations": relations})


class RemoteInstance(_RemoteRun):
    id: int
    name: str | None = None
    workflow_definition_code: int | None = Field(
        default=None, validation_alias=AliasChoices("workflowDefinitionCode", "processDefinitionCode"))
    workflow_definition_version: int | None = Field(
        default=None, validation_alias=AliasChoices("workflowDefinitionVersion", "processDefinitionVersion"))
    state: str | None = None
    command_type: str | None = Field(default=None, alias="commandType")
    start_time: datetime | None = Field(default=None, alias="startTime")
    end_time: datetime | None = Field(default=None, alias="endTime")
    schedule_time: datetime | None = Field(default=None, alias="scheduleTime")
    duration: str | None = None
    run_times: int | None = Field(default=None, alias="runTimes")
    host: str | None = None
    executor_name: str | None = Field(default=None, alias="executorName")


class RemoteTaskInstance(_RemoteRun):
    id: int
    name: str | None = None
    task_type: str | None = Field(default=None, alias="taskType")
    task_code: int | None = Field(default=None, alias="taskCode")
    state: str | None = None
    start_time: datetime | None = Field(default=None, alias="startTime")
    end_time: datetime | None = Field(default=None, alias="endTime")
    duration: str | None = None
    retry_times: int | None = Field(default=None, alias="retryTimes")
    host: str | None = None


class RemoteSchedule(_Remote):
    id: int
    workflow_definition_code: int | None = Field(
        default=None, validation_alias=AliasChoices("workflowDefinitionCode", "processDefinitionCode"))
    crontab: str = ""
    timezone_id: str | None = Field(default=None, alias="timezoneId")
    start_time: str | None = Field(default=None, alias="startTime")
    end_time: str | None = Field(default=None, alias="endTime")
    release_state: str | None = Field(default=None, alias="releaseState")
    failure_strategy: str | None = Field(default=None, alias="failureStrategy")
    warning_type: str | None = Field(default=None, alias="warningType")
    warning_group_id: int | None = Field(default=None, alias="warningGroupId")
    workflow_instance_priority: str | None = Field(
        default=None, validation_alias=AliasChoices("workflowInstancePriority", "processInstancePriority"))
    worker_group: str | None = Field(default=None, alias="workerGroup")
    tenant_code: str | None = Field(default=None, alias="tenantCode")
    environment_code: int | None = Field(default=None, alias="environmentCode")

    def settings(self) -> dict[str, Any]:
        """The fields a schedule update must send back to keep them (wire names, unknown ones left out)."""
        values = {"failureStrategy": self.failure_strategy, "warningType": self.warning_type,
                  "warningGroupId": self.warning_group_id, "workflowInstancePriority": self.workflow_instance_priority,
                  "workerGroup": self.worker_group, "tenantCode": self.tenant_code,
                  "environmentCode": self.environment_code}
        return {k: v for k, v in values.items() if v is not None}


T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page_no: int
    page_size: int
    total_page: int


def page_of(data: Any, model: type[T] | None) -> Page[Any]:
    """A DolphinScheduler page (``totalList`` and counters); a missing or odd one reads as empty."""
    data = data if isinstance(data, Mapping) else {}
    raw = data.get("totalList") or []
    items = [model.model_validate(i) for i in raw] if model else list(raw)
    return Page(items=items, total=int(data.get("total") or 0), page_no=int(data.get("pageNo") or 1),
                page_size=int(data.get("pageSize") or len(items)), total_page=int(data.get("totalPage") or 0))
