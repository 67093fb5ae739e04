"""What acts on a deployed workflow without publishing it: starting instances and deleting the definition."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dolphin_publisher.client import DolphinClient
from dolphin_publisher.config import IntegrationConfig
from dolphin_publisher.errors import ConflictError, DolphinError, DolphinTransientError, NotFoundError
from dolphin_publisher.models import InstanceState
from dolphin_publisher.repository import Database, Repo, Row

log = logging.getLogger(__name__)


class RemoteOperations:
    def __init__(self, db: Database, config: IntegrationConfig, client: DolphinClient) -> None:
        self.db = db
        self.config = config
        self.client = client

    def _engine_code(self, row: Row) -> int | None:
        """The stored code, when it belongs to the configured project."""
        if row["workflow_code"] and row["project_code"] == self.config.project_code:
            return int(row["workflow_code"])
        return None


    def _startable(self, repo: Repo, workflow_id: int) -> Row:
        row = repo.get_workflow(workflow_id)
        if row is None:
            raise NotFoundError(f"workflow {workflow_id} not found")
        if row["status"] == "offline":
            raise ConflictError(f"workflow {row['workflow_name']!r} is offline on the platform: no new instances")
        if self._engine_code(row) is None:
            raise ConflictError(f"workflow {row['workflow_name']!r} is not deployed to DolphinScheduler project "
                                f"{self.config.project_code}: publish it first")
        return row

    def start(self, workflow_id: int, *, operator: str, params: dict[str, str] | None = None,
              failure_strategy: str = "CONTINUE", dry_run: bool = False) -> dict[str, Any]:
        """Start one instance. Never retried on a lost response: check executions before starting again."""
        with self.db.connect() as conn:
            row = self._startable(Repo(conn), workflow_id)
        code = int(row["workflow_code"])
        try:
            ids = self.client.start_instance(code, failure_strategy=failure_strategy,
                                             worker_group=self.config.worker_group,
                                             tenant_code=self.config.tenant_code, start_params=params,
                                             dry_run=dry_run)
        except DolphinTransientError as exc:
            if exc.outcome_unknown:
                exc.message = (f"{exc.message}; the instance may have started anyway: check the executions "
                               "(sync) before starting again")
            raise
        now = datetime.now().replace(microsecond=0)
        with self.db.transaction() as repo:
            repo.upsert_instances(workflow_id, [
                {"instance_id": i, "engine_workflow_code": code, "name": None, "state": InstanceState.SUBMITTED_SUCCESS,
                 "command_type": "START_PROCESS", "start_time": now, "end_time": None, "duration": None,
                 "run_times": 1, "host": None, "executor_name": None, "started_by": operator,
                 "raw": {"startParams": json.dumps(params or {})}}
                for i in ids
            ])
        return {"workflow_id": workflow_id, "engine_workflow_code": code, "instance_ids": ids}

    def batch_start(self, workflow_ids: Sequence[int], *, operator: str) -> dict[str, Any]:
        """Start each workflow and say which started and which did not.

        Not one batch-start call: the server starts the codes one by one and answers a failure of any
        with a single error, the earlier ones already running. Started one by one here, a failure is
        the failing workflow's alone and the others still start.
        """
        with self.db.connect() as conn:
            rows = [self._startable(Repo(conn), wid) for wid in workflow_ids]
        started: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for wid, row in zip(workflow_ids, rows, strict=True):
            code = int(row["workflow_code"])
            try:
                ids = self.client.start_instance(code, worker_group=self.config.worker_group,
                                                 tenant_code=self.config.tenant_code)
            except DolphinError as exc:
                if isinstance(exc, DolphinTransientError) and exc.outcome_unknown:
                    exc.message += "; it may have started anyway: check its executions before starting it again"
                failed.append({"workflow_id": wid, "engine_workflow_code": code, "_exc": exc,
                               "error": {**exc.to_dict(), "dolphin_code": exc.code, "dolphin_msg": exc.msg}})
                continue
            started.append({"workflow_id": wid, "engine_workflow_code": code, "instance_ids": ids})
        log.info("batch start by %s: %d started, %d failed", operator, len(started), len(failed))
        errors = [f.pop("_exc") for f in failed]
        if errors and not started:
            errors[0].details["batch"] = {"started": [], "failed": failed}
            raise errors[0]  # nothing started: the request failed, with every workflow's reason
        return {"workflow_ids": list(workflow_ids), "engine_workflow_codes": [int(r["workflow_code"]) for r in rows],
                "result": [i for s in started for i in s["instance_ids"]], "started": started, "failed": failed}

    def delete_remote(self, workflow_id: int) -> int | None:
        """Delete the DolphinScheduler definition (before the platform rows go).

        The server refuses to delete an online definition (50021) or one whose schedule is online
        (50023): both are taken offline first.
        """
        with self.db.connect() as conn:
            row = Repo(conn).get_workflow(workflow_id)
        if row is None:
            raise NotFoundError(f"workflow {workflow_id} not found")
        code = self._engine_code(row)
        if code is None:
            return None
        current = self.client.get_definition(code)
        if current is None:
            return code
        if current.release_state == "ONLINE":
            self.client.release(code, "OFFLINE")  # takes the schedule offline too
        for schedule in self.client.list_schedules(code):
            if schedule.release_state == "ONLINE":
                self.client.schedule_offline(schedule.id)
        self.client.delete_definition(code)
        return code
