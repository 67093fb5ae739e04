"""Execution history (seed §4.5): the latest 10 instances per online workflow, and details on demand.

The sync is what the ``dolphin_history_sync`` DAG runs every 5 minutes. Per workflow it costs one
call, stores the page in ``workflow_instance_cache`` (older rows trimmed), updates the workflow's
last execution state and reports instances that newly reached FAILURE. Task instances and logs are
not cached: they are fetched when someone looks.
"""

from __future__ import annotations

import logging
from typing import Any

from dolphin_publisher.client import DolphinClient
from dolphin_publisher.config import IntegrationConfig
from dolphin_publisher.errors import NotFoundError, PublisherError
from dolphin_publisher.models import InstanceRecord, InstanceState
from dolphin_publisher.remote import RemoteInstance
from dolphin_publisher.repository import Database, Repo, Row
from dolphin_publisher.rows import instance_from_row

log = logging.getLogger(__name__)
KEEP = 10


def _cache_row(instance: RemoteInstance, code: int) -> dict[str, Any]:
    return {
        "instance_id": instance.id, "engine_workflow_code": instance.workflow_definition_code or code,
        "name": instance.name, "state": instance.state, "command_type": instance.command_type,
        "start_time": instance.start_time, "end_time": instance.end_time, "duration": instance.duration,
        "run_times": instance.run_times, "host": instance.host, "executor_name": instance.executor_name,
        "started_by": instance.executor_name, "raw": instance.model_dump(mode="json"),
    }


class HistorySync:
    def __init__(self, db: Database, config: IntegrationConfig, client: DolphinClient) -> None:
        self.db = db
        self.config = config
        self.client = client

    def sync_all(self) -> dict[str, Any]:
        with self.db.connect() as conn:
            rows = Repo(conn).workflows_to_sync()
        report: dict[str, Any] = {"workflows": 0, "instances": 0, "failures": [], "errors": [], "skipped": []}
        for row in rows:
            if row["project_code"] != self.config.project_code:
                report["skipped"].append({"workflow_id": row["id"], "reason": "other DolphinScheduler project"})
                continue
            try:
                one = self._sync(row)
            except PublisherError as exc:
                log.warning("history sync of workflow %s failed: %s", row["id"], exc.message)
                report["errors"].append({"workflow_id": row["id"], "name": row["workflow_name"],
                                         "error": exc.to_dict()})
                continue
            report["workflows"] += 1
            report["instances"] += one["instances"]
            report["failures"].extend(one["failures"])
        return report

    def sync_workflow(self, workflow_id: int) -> dict[str, Any]:
        with self.db.connect() as conn:
            row = Repo(conn).get_workflow(workflow_id)
        if row is None:
            raise NotFoundError(f"workflow {workflow_id} not found")
        if not row["workflow_code"] or row["project_code"] != self.config.project_code:
            return {"workflow_id": workflow_id, "instances": 0, "failures": [], "note": "not deployed"}
        return self._sync(row)

    def _sync(self, row: Row) -> dict[str, Any]:
        workflow_id, code = int(row["id"]), int(row["workflow_code"])
        page = self.client.list_instances(code, page_no=1, page_size=KEEP)
        with self.db.transaction() as repo:
            before = {r["instance_id"]: r["state"] for r in repo.list_instances(workflow_id, KEEP * 2)}
            repo.upsert_instances(workflow_id, [_cache_row(i, code) for i in page.items])
            repo.trim_instances(workflow_id, KEEP)
            newest = max(page.items, key=lambda i: i.id, default=None)
            if newest is not None:
                repo.update_workflow_fields(workflow_id, {"last_execution_state": newest.state,
                                                          "last_execution_time": newest.start_time})
        failures = [
            {"workflow_id": workflow_id, "name": row["workflow_name"], "instance_id": i.id, "state": i.state,
             "start_time": i.start_time.isoformat(sep=" ") if i.start_time else None}
            for i in page.items if i.state == InstanceState.FAILURE and before.get(i.id) != InstanceState.FAILURE
        ]
        for failure in failures:
            log.warning("DolphinScheduler instance %s of workflow %r failed", failure["instance_id"],
                        row["workflow_name"])
        return {"workflow_id": workflow_id, "instances": len(page.items), "failures": failures}

    def executions(self, workflow_id: int, *, limit: int = KEEP) -> list[InstanceRecord]:
        with self.db.connect() as conn:
            repo = Repo(conn)
            if repo.get_workflow(workflow_id) is None:
                raise NotFoundError(f"workflow {workflow_id} not found")
            return [instance_from_row(r) for r in repo.list_instances(workflow_id, limit)]

    def task_instances(self, workflow_id: int, instance_id: int) -> dict[str, Any]:
        with self.db.connect() as conn:
            row = Repo(conn).get_workflow(workflow_id)
        if row is None:
            raise NotFoundError(f"workflow {workflow_id} not found")
        instance = self.client.get_instance(instance_id)
        if row["workflow_code"] is None or instance.workflow_definition_code != row["workflow_code"]:
            raise NotFoundError(f"instance {instance_id} does not belong to workflow {workflow_id}")
        state, tasks = self.client.instance_tasks(instance_id)
        return {"instance_id": instance_id, "state": state,
                "tasks": [t.model_dump(mode="json") for t in tasks]}

    def task_log(self, task_instance_id: int, *, skip_lines: int = 0, limit: int = 1000) -> dict[str, Any]:
        return {"task_instance_id": task_instance_id,
                **self.client.task_log(task_instance_id, skip_lines=skip_lines, limit=limit)}

