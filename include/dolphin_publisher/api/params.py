"""Path parameters of the ``/api/v1`` routes, bounded so no id reaches the database out of range."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from dolphin_publisher.models import BIGINT_MAX, INT_MAX, TASK_ID_PATTERN

WorkflowId = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="platform workflow id")]
VersionNo = Annotated[int, Path(ge=1, le=INT_MAX, description="version number of the workflow")]
InstanceId = Annotated[int, Path(ge=1, le=INT_MAX, description="DolphinScheduler workflow instance id")]
TaskInstanceId = Annotated[int, Path(ge=1, le=INT_MAX, description="DolphinScheduler task instance id")]
TaskIdPath = Annotated[str, Path(pattern=TASK_ID_PATTERN, description="platform task id")]
