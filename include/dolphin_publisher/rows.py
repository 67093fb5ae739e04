"""Platform rows read back as the API's models."""

from __future__ import annotations

from dolphin_publisher.models import InstanceRecord, PublishRecord, WorkflowSnapshot, WorkflowSummary
from dolphin_publisher.repository import Row


def snapshot_of(row: Row) -> WorkflowSnapshot:
    data = row.get("definition_json") or {}
    if not data:
        return WorkflowSnapshot(name=row["workflow_name"], description=row["description"])
    return WorkflowSnapshot.model_validate(data)


def summary_from_row(row: Row) -> WorkflowSummary:
    return WorkflowSummary(
        id=row["id"], name=row["workflow_name"], description=row["description"], status=row["status"],
        publish_status=row["publish_status"], current_version=row.get("current_version"),
        last_published_version=row.get("last_published_version"), workflow_code=row["workflow_code"],
        project_code=row["project_code"], engine_release_state=row["engine_release_state"],
        last_execution_state=row["last_execution_state"], last_execution_time=row["last_execution_time"],
        task_count=int(row.get("task_count") or 0), updated_at=row["updated_at"],
    )


def instance_from_row(row: Row) -> InstanceRecord:
    return InstanceRecord.model_validate({k: row[k] for k in InstanceRecord.model_fields})


def record_from_row(row: Row) -> PublishRecord:
    return PublishRecord.model_validate({k: row[k] for k in PublishRecord.model_fields})
