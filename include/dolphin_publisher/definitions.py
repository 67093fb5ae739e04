"""Workflow definitions: create/update, reads, task assignment and reassignment (seed §4.1, §4.2).

Every write runs in one transaction: validation happens before the first statement, and anything
the database itself refuses (a task grabbed by another workflow meanwhile, a duplicate name) rolls
the whole change back, so a rejected definition leaves nothing behind. The checks themselves are in
``checks``, the rules of moving tasks between workflows in ``reassignment``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import psycopg

from dolphin_publisher.checks import Edge, listed, validate_definition, validate_schedule
from dolphin_publisher.dependencies import lineage_edges_among, refresh_in
from dolphin_publisher.errors import ConflictError, NotFoundError, WorkflowValidationError
from dolphin_publisher.models import (
    GlobalParam,
    InstanceRecord,
    PublishRecord,
    ReassignMode,
    TaskInfo,
    TaskSpec,
    TriggerSource,
    WorkflowDetail,
    WorkflowFile,
    WorkflowSnapshot,
    WorkflowStatus,
    WorkflowSummary,
)
from dolphin_publisher.reassignment import SourceChange, moving_with, shrink_source
from dolphin_publisher.repository import Database, Repo, Row
from dolphin_publisher.rows import instance_from_row, record_from_row, snapshot_of, summary_from_row
from dolphin_publisher.versions import diff_snapshots, snapshot_dict, snapshot_hash


@dataclass(frozen=True)
class WorkflowRef:
    workflow_id: int
    name: str
    version: int
    changed: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class WorkflowService:
    """Create, change and read platform workflows."""

    def __init__(self, db: Database, *, link_builder: Callable[[Row], str | None] | None = None) -> None:
        self.db = db
        self.link_builder = link_builder

    # ---- lookups ---------------------------------------------------------------------------------

    def resolve(self, ref: str | int) -> int:
        """A workflow id from an id or a name (the CLI's WORKFLOW argument)."""
        with self.db.connect() as conn:
            repo = Repo(conn)
            text = str(ref).strip()
            if text.isdigit():
                row = repo.get_workflow(int(text))
                if row is not None:
                    return int(row["id"])
            row = repo.get_workflow_by_name(text)
            if row is None:
                raise NotFoundError(f"workflow {text!r} not found (neither an id nor a name)")
            return int(row["id"])

    def require(self, workflow_id: int) -> Row:
        """The workflow's row, or 404: checked before anything needs DolphinScheduler settings."""
        with self.db.connect() as conn:
            row = Repo(conn).get_workflow(workflow_id)
        if row is None:
            raise NotFoundError(f"workflow {workflow_id} not found")
        return row

    def get(self, workflow_id: int) -> WorkflowDetail:
        with self.db.connect() as conn:
            repo = Repo(conn)
            row = repo.workflow_summary(workflow_id)
            if row is None:
                raise NotFoundError(f"workflow {workflow_id} not found")
            snapshot = snapshot_of(row)
            detail = WorkflowDetail(
                **summary_from_row(row).model_dump(),
                publish_error_code=row["publish_error_code"], publish_error_message=row["publish_error_message"],
                schedule=snapshot.schedule, global_params=snapshot.global_params, tasks=snapshot.tasks,
                dependencies=snapshot.dependencies, entry_task_ids=snapshot.entry_task_ids,
                exit_task_ids=snapshot.exit_task_ids,
                dolphinscheduler_url=self.link_builder(row) if self.link_builder else None,
                recent_executions=[instance_from_row(r) for r in repo.list_instances(workflow_id, 10)],
                recent_publish_records=[record_from_row(r) for r in repo.list_publish_records(workflow_id, 10)],
            )
            return detail

    def list(self, *, status: str | None = None, publish_status: str | None = None, search: str | None = None,
             limit: int = 50, offset: int = 0) -> tuple[list[WorkflowSummary], int]:
        with self.db.connect() as conn:
            rows, total = Repo(conn).list_workflows(status=status, publish_status=publish_status, search=search,
                                                    limit=limit, offset=offset)
            return [summary_from_row(r) for r in rows], total

    def list_tasks(self, *, workflow_id: int | None = None, upstream_task_id: str | None = None,
                   downstream_task_id: str | None = None, limit: int = 100,
                   offset: int = 0) -> tuple[list[TaskInfo], int]:
        with self.db.connect() as conn:
            rows, total = Repo(conn).list_tasks(workflow_id=workflow_id, upstream_of=upstream_task_id,
                                                downstream_of=downstream_task_id, limit=limit, offset=offset)
            return [TaskInfo.model_validate(r) for r in rows], total

    def publish_records(self, workflow_id: int, *, limit: int = 50) -> list[PublishRecord]:
        with self.db.connect() as conn:
            repo = Repo(conn)
            if repo.get_workflow(workflow_id) is None:
                raise NotFoundError(f"workflow {workflow_id} not found")
            return [record_from_row(r) for r in repo.list_publish_records(workflow_id, limit)]

    def executions(self, workflow_id: int, *, limit: int = 10) -> list[InstanceRecord]:
        """The cached latest executions (no DolphinScheduler call)."""
        with self.db.connect() as conn:
            repo = Repo(conn)
            if repo.get_workflow(workflow_id) is None:
                raise NotFoundError(f"workflow {workflow_id} not found")
            return [instance_from_row(r) for r in repo.list_instances(workflow_id, limit)]

    # ---- writes ----------------------------------------------------------------------------------

    def upsert_tasks(self, tasks: Sequence[TaskSpec]) -> list[str]:
        """Create or update platform tasks; workflows that own them see it in their next version."""
        ids = [t.task_id for t in tasks]
        dupes = sorted({t for t in ids if ids.count(t) > 1}) if len(set(ids)) != len(ids) else []
        if dupes:
            raise WorkflowValidationError(f"task ids listed twice: {listed(dupes)}")
        with self.db.transaction() as repo:
            repo.upsert_tasks(tasks)
        return ids

    def create(self, spec: WorkflowFile, *, operator: str,
               trigger: TriggerSource = TriggerSource.MANUAL) -> WorkflowRef:
        with self.db.transaction() as repo:
            return self._save(repo, None, spec, operator=operator, trigger=trigger)

    def update(self, workflow_id: int, spec: WorkflowFile, *, operator: str,
               trigger: TriggerSource = TriggerSource.MANUAL) -> WorkflowRef:
        with self.db.transaction() as repo:
            row = self._lock(repo, workflow_id)
            return self._save(repo, row, spec, operator=operator, trigger=trigger)

    def create_or_update(self, spec: WorkflowFile, *, operator: str, trigger: TriggerSource) -> WorkflowRef:
        """By name: what a re-run import wants (a second import of the same DAG updates it)."""
        with self.db.transaction() as repo:
            existing = repo.get_workflow_by_name(spec.name)
            row = self._lock(repo, existing["id"]) if existing else None
            return self._save(repo, row, spec, operator=operator, trigger=trigger)

    def apply_snapshot(self, workflow_id: int, snapshot: WorkflowSnapshot, *, operator: str,
                       mode: ReassignMode | None, rolled_back_to: int) -> WorkflowRef:
        spec = WorkflowFile(
            name=snapshot.name, description=snapshot.description, schedule=snapshot.schedule,
            tasks=snapshot.tasks, dependencies=list(snapshot.dependencies), global_params=snapshot.global_params,
            reassign_mode=mode,
        )
        with self.db.transaction() as repo:
            row = self._lock(repo, workflow_id)
            return self._save(repo, row, spec, operator=operator, trigger=TriggerSource.ROLLBACK,
                              extra_summary={"rolled_back_to": rolled_back_to})

    def assign_tasks(self, workflow_id: int, task_ids: Sequence[str], *, mode: ReassignMode | None,
                     dependencies: Sequence[Edge] | None, operator: str,
                     trigger: TriggerSource = TriggerSource.ASSIGNMENT) -> WorkflowRef:
        """Add existing tasks; edges from ``dependencies`` or, when omitted, from lineage."""
        with self.db.transaction() as repo:
            row = self._lock(repo, workflow_id)
            current = snapshot_of(row)
            members = [t.task_id for t in current.tasks]
            spec = WorkflowFile(
                name=current.name, description=current.description, schedule=current.schedule,
                global_params=current.global_params,
                task_ids=members + [t for t in task_ids if t not in members],
                dependencies=[*current.dependencies, *(dependencies or [])], reassign_mode=mode,
            )
            return self._save(repo, row, spec, operator=operator, trigger=trigger,
                              infer_lineage=dependencies is None, keep_current_tasks=True)

    def reassign_task(self, task_id: str, target_workflow_id: int, *, mode: ReassignMode,
                      operator: str) -> WorkflowRef:
        with self.db.connect() as conn:
            if not Repo(conn).task_exists(task_id):
                raise NotFoundError(f"task {task_id!r} not found")
        return self.assign_tasks(target_workflow_id, [task_id], mode=mode, dependencies=None, operator=operator,
                                 trigger=TriggerSource.REASSIGNMENT)

    def set_status(self, workflow_id: int, status: WorkflowStatus, *, operator: str) -> WorkflowSummary:
        """Platform online/offline: no DolphinScheduler call (seed §6.3); offline blocks new starts."""
        with self.db.transaction() as repo:
            row = self._lock(repo, workflow_id)
            if status is WorkflowStatus.ONLINE and not snapshot_of(row).tasks:
                raise WorkflowValidationError("a workflow without tasks cannot go online")
            repo.update_workflow_fields(workflow_id, {"status": status.value, "updated_by": operator})
            summary = repo.workflow_summary(workflow_id)
            assert summary is not None
            return summary_from_row(summary)

    def delete(self, workflow_id: int) -> None:
        with self.db.transaction() as repo:
            row = self._lock(repo, workflow_id)
            if row["engine_release_state"] == "ONLINE":
                raise ConflictError(
                    f"workflow {row['workflow_name']!r} is ONLINE in DolphinScheduler: publish "
                    "with operation offline first"
                )
            repo.delete_workflow(workflow_id)
            refresh_in(repo)

    # ---- internals -------------------------------------------------------------------------------

    @staticmethod
    def _lock(repo: Repo, workflow_id: int) -> Row:
        row = repo.get_workflow(workflow_id, for_update=True)
        if row is None:
            raise NotFoundError(f"workflow {workflow_id} not found")
        return row

    def _save(self, repo: Repo, row: Row | None, spec: WorkflowFile, *, operator: str, trigger: TriggerSource,
              extra_summary: dict[str, Any] | None = None, infer_lineage: bool | None = None,
              keep_current_tasks: bool = False) -> WorkflowRef:
        workflow_id = int(row["id"]) if row else None
        current = snapshot_of(row) if row else None
        problems = validate_schedule(spec.schedule)

        spec_ids = [t.task_id for t in spec.tasks]
        dupes = sorted({t for t in spec_ids if spec_ids.count(t) > 1}) if len(set(spec_ids)) != len(spec_ids) else []
        if dupes:
            problems.append(f"task ids listed twice: {listed(dupes)}")
        members: list[str] = list(dict.fromkeys([*spec_ids, *spec.task_ids]))
        tasks: dict[str, TaskSpec] = {t.task_id: t for t in spec.tasks}
        tasks.update(repo.get_tasks([t for t in members if t not in tasks]))
        unknown = [t for t in members if t not in tasks]
        if unknown:
            problems.append(f"unknown tasks (create them first or include them in tasks): {listed(unknown)}")
        if problems:
            raise WorkflowValidationError("; ".join(problems), problems=problems)

        # Ownership: a task belongs to one workflow; moving it needs an explicit mode.
        owners = repo.owners(members)
        foreign = {t: o for t, o in owners.items() if o["workflow_id"] != workflow_id}
        sources: dict[int, SourceChange] = {}
        carried_edges: list[Edge] = []
        modes: dict[str, str] = {}
        if foreign:
            mode = spec.reassign_mode
            if mode is None:
                taken = [f"{t} (workflow {o['workflow_name']!r}, id {o['workflow_id']})"
                         for t, o in sorted(foreign.items())]
                raise ConflictError(
                    f"tasks already belong to another workflow: {listed(taken)}; choose a reassignment "
                    "mode (only_this, cascade_downstream or cascade_both) to move them",
                    details={"tasks": {t: o["workflow_id"] for t, o in foreign.items()}},
                )
            for t, owner in foreign.items():
                source_id = int(owner["workflow_id"])
                if source_id not in sources:
                    source_row = self._lock(repo, source_id)
                    sources[source_id] = SourceChange(source_row, snapshot_of(source_row), set())
                sources[source_id].moved |= moving_with(sources[source_id].snapshot, t, mode)
            for change in sources.values():
                new_ids = sorted(change.moved - set(members))
                members.extend(new_ids)
                tasks.update(repo.get_tasks([t for t in new_ids if t not in tasks]))
                carried_edges.extend(e for e in change.snapshot.dependencies
                                     if e[0] in change.moved and e[1] in change.moved)
                modes.update(dict.fromkeys(change.moved, mode.value))

        edges: list[Edge] = list(dict.fromkeys([*(tuple(e) for e in spec.dependencies or []), *carried_edges]))
        if infer_lineage or (infer_lineage is None and spec.dependencies is None):
            already = {t.task_id for t in current.tasks} if (current and keep_current_tasks) else set()
            known = set(edges)
            edges.extend(e for e in lineage_edges_among(repo, members)
                         if (e[0] not in already or e[1] not in already) and e not in known)
        entry, exit_ = validate_definition(tasks, members, edges)

        clash = repo.get_workflow_by_name(spec.name)
        if clash is not None and clash["id"] != workflow_id:
            raise ConflictError(f"a workflow named {spec.name!r} already exists (id {clash['id']})")

        snapshot = WorkflowSnapshot(
            name=spec.name, description=spec.description, schedule=spec.schedule,
            global_params=[GlobalParam.model_validate(p.model_dump()) for p in spec.global_params],
            tasks=[tasks[t] for t in members], dependencies=sorted(edges), entry_task_ids=entry,
            exit_task_ids=exit_,
        )
        try:
            repo.upsert_tasks(spec.tasks)
            for source_id, change in sources.items():
                shrink_source(repo, source_id, change, operator=operator, target=spec.name)
            if workflow_id is None:
                workflow_id = repo.insert_workflow(spec.name, spec.description, operator)
            new_hash = snapshot_hash(snapshot)
            current_version = repo.get_version_by_id(row["current_version_id"]) if row and \
                row["current_version_id"] else None
            if current_version is not None and current_version["content_hash"] == new_hash:
                return WorkflowRef(workflow_id, spec.name, int(current_version["version_no"]), changed=False)
            summary = diff_snapshots(current if current_version else None, snapshot)
            summary.update(extra_summary or {})
            if sources:
                summary["reassigned_from"] = {str(k): sorted(v.moved) for k, v in sources.items()}
            version = repo.insert_version(workflow_id, snapshot_dict(snapshot), summary, new_hash, trigger.value,
                                          operator)
            repo.set_definition(workflow_id, name=spec.name, description=spec.description,
                                definition=snapshot_dict(snapshot), version_id=int(version["id"]), entry=entry,
                                exit_=exit_, updated_by=operator)
            lost = repo.sync_relations(workflow_id, members, int(version["id"]), modes)
            if lost:
                raise ConflictError(f"tasks were assigned to another workflow meanwhile: {listed(lost)}")
            refresh_in(repo)
            return WorkflowRef(workflow_id, spec.name, int(version["version_no"]), changed=True)
        except psycopg.errors.UniqueViolation as exc:
            raise ConflictError(f"conflicting change, nothing saved: {exc.diag.message_detail or exc}") from exc
