"""Version snapshots: content hash, structural diff, listing and rollback.

A version is immutable. Rollback does not move a pointer back: it creates a new version whose
content is the old one, so the history keeps saying what happened and a later publish sees a change.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from dolphin_publisher.errors import NotFoundError
from dolphin_publisher.models import ReassignMode, VersionInfo, WorkflowSnapshot
from dolphin_publisher.repository import Database, Row

if TYPE_CHECKING:
    from dolphin_publisher.definitions import WorkflowRef, WorkflowService

_TASK_FIELDS = (
    "name", "type", "command", "sql", "datasource", "datasource_type", "worker_group", "retries",
    "retry_delay_minutes", "timeout_minutes", "description",
)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def snapshot_dict(snapshot: WorkflowSnapshot) -> dict[str, Any]:
    data = snapshot.model_dump(mode="json")
    data["tasks"] = sorted(data["tasks"], key=lambda t: t["task_id"])
    data["dependencies"] = sorted([list(e) for e in data["dependencies"]])
    return data


def snapshot_hash(snapshot: WorkflowSnapshot) -> str:
    return hashlib.sha256(canonical_json(snapshot_dict(snapshot)).encode()).hexdigest()


def diff_snapshots(old: WorkflowSnapshot | None, new: WorkflowSnapshot) -> dict[str, Any]:
    """What changed from ``old`` to ``new``: tasks, task fields, dependencies, workflow properties."""
    old_tasks = {t.task_id: t for t in old.tasks} if old else {}
    new_tasks = {t.task_id: t for t in new.tasks}
    changed: dict[str, dict[str, dict[str, Any]]] = {}
    for task_id in sorted(old_tasks.keys() & new_tasks.keys()):
        before, after = old_tasks[task_id].model_dump(mode="json"), new_tasks[task_id].model_dump(mode="json")
        fields = {f: {"from": before[f], "to": after[f]} for f in _TASK_FIELDS if before[f] != after[f]}
        if fields:
            changed[task_id] = fields
    old_edges = {tuple(e) for e in old.dependencies} if old else set()
    new_edges = {tuple(e) for e in new.dependencies}
    properties: dict[str, dict[str, Any]] = {}
    if old is not None:
        before_props = old.model_dump(mode="json", include={"name", "description", "schedule", "global_params"})
        after_props = new.model_dump(mode="json", include={"name", "description", "schedule", "global_params"})
        properties = {k: {"from": before_props[k], "to": after_props[k]}
                      for k in sorted(after_props) if before_props[k] != after_props[k]}
    result: dict[str, Any] = {
        "tasks_added": sorted(new_tasks.keys() - old_tasks.keys()),
        "tasks_removed": sorted(old_tasks.keys() - new_tasks.keys()),
        "tasks_changed": changed,
        "dependencies_added": [list(e) for e in sorted(new_edges - old_edges)],
        "dependencies_removed": [list(e) for e in sorted(old_edges - new_edges)],
        "properties_changed": properties,
    }
    result["summary"] = _summary(result, created=old is None)
    return result


def _summary(diff: dict[str, Any], *, created: bool) -> str:
    if created:
        return f"created with {len(diff['tasks_added'])} tasks and {len(diff['dependencies_added'])} dependencies"
    parts = []
    for key, label in (("tasks_added", "tasks added"), ("tasks_removed", "tasks removed"),
                       ("tasks_changed", "tasks changed"), ("dependencies_added", "dependencies added"),
                       ("dependencies_removed", "dependencies removed")):
        if diff[key]:
            parts.append(f"{len(diff[key])} {label}")
    if diff["properties_changed"]:
        parts.append("changed " + ", ".join(diff["properties_changed"]))
    return "; ".join(parts) or "no change"


def version_from_row(row: Row, *, with_snapshot: bool) -> VersionInfo:
    return VersionInfo(
        id=row["id"], workflow_id=row["workflow_id"], version_no=row["version_no"],
        trigger_source=row["trigger_source"], change_summary=row["change_summary"] or {},
        created_by=row["created_by"], created_at=row["created_at"], content_hash=row["content_hash"],
        structure_snapshot=WorkflowSnapshot.model_validate(row["structure_snapshot"]) if with_snapshot else None,
    )


class VersionService:
    def __init__(self, db: Database, workflows: WorkflowService) -> None:
        self.db = db
        self.workflows = workflows

    def list(self, workflow_id: int) -> list[VersionInfo]:
        with self.db.transaction() as repo:
            if repo.get_workflow(workflow_id) is None:
                raise NotFoundError(f"workflow {workflow_id} not found")
            return [version_from_row(r, with_snapshot=False) for r in repo.list_versions(workflow_id)]

    def get(self, workflow_id: int, version_no: int) -> VersionInfo:
        with self.db.transaction() as repo:
            row = repo.get_version(workflow_id, version_no)
            if row is None:
                raise NotFoundError(f"workflow {workflow_id} has no version {version_no}")
            return version_from_row(row, with_snapshot=True)

    def diff(self, workflow_id: int, from_version: int, to_version: int) -> dict[str, Any]:
        old = self.get(workflow_id, from_version).structure_snapshot
        new = self.get(workflow_id, to_version).structure_snapshot
        assert new is not None
        return {"from_version": from_version, "to_version": to_version, **diff_snapshots(old, new)}

    def rollback(self, workflow_id: int, version_no: int, *, operator: str,
                 mode: ReassignMode | None = None) -> WorkflowRef:
        """A new version with the content of ``version_no`` (its tasks' attributes included)."""
        target = self.get(workflow_id, version_no).structure_snapshot
        assert target is not None
        return self.workflows.apply_snapshot(workflow_id, target, operator=operator, mode=mode,
                                             rolled_back_to=version_no)
