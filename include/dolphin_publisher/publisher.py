"""Publish orchestration: deploy / online / offline, instance start, schedules.

- deploy: create or update the definition. One the server has ONLINE is released OFFLINE to be edited
  and updated with ``releaseState=ONLINE``; its schedule (taken offline with it) is updated and put
  back online, keeping its tenant and environment: a redeploy never takes a workflow offline.
- online: deploy, release ONLINE, then create/update the DolphinScheduler schedule and put it online.
- offline: release OFFLINE (the server takes the schedule offline with it).

Idempotence: the engine workflow code and task codes are kept per platform workflow (a renamed
workflow updates its definition); the hash of the last payload sent is kept too, so the same
version with the same content and a definition that still exists on the server means no write at
all. Without a stored code the definition is looked up by name first, so a create whose response
was lost is found instead of duplicated. Every attempt, skipped and failed ones included, writes a
``workflow_publish_record``; a failure sets ``publish_status='failed'`` with the server's code and
message, and publishing again retries.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dolphin_publisher.checks import validate_definition
from dolphin_publisher.client import DolphinClient
from dolphin_publisher.config import IntegrationConfig
from dolphin_publisher.converter import convert, convert_schedule
from dolphin_publisher.cron import dst_warnings
from dolphin_publisher.errors import (
    ConflictError,
    DolphinError,
    NotFoundError,
    PublisherError,
    WorkflowValidationError,
)
from dolphin_publisher.models import PublishOperation, PublishRecord, RecordStatus, WorkflowSnapshot
from dolphin_publisher.remote import RemoteDefinition
from dolphin_publisher.repository import Database, Repo, Row
from dolphin_publisher.rows import record_from_row
from dolphin_publisher.starts import RemoteOperations
from dolphin_publisher.transport import RestTransport, Transport

log = logging.getLogger(__name__)


@dataclass
class PublishOutcome:
    record: PublishRecord
    error: PublisherError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "status": self.record.status.value, "operation": self.record.operation.value,
            "engine_workflow_code": self.record.engine_workflow_code, "version": self.record.version_no,
            "record_id": self.record.id, "log": self.record.log, "error": None,
        }
        if self.error is not None:
            data["error"] = self.error.to_dict()
        return data


@dataclass
class _Attempt:
    """What one publish attempt learned and did; becomes the publish record."""

    operation: PublishOperation
    lines: list[str] = field(default_factory=list)
    code: int | None = None
    engine_version: int | None = None
    release_state: str | None = None
    task_codes: dict[str, int] = field(default_factory=dict)
    content_hash: str | None = None
    definition_written: bool = False
    wrote: bool = False
    schedule_id: int | None = None
    schedule_known: bool = False

    def note(self, line: str) -> None:
        self.lines.append(line)


class Publisher(RemoteOperations):
    def __init__(self, db: Database, config: IntegrationConfig, client: DolphinClient,
                 transport: Transport | None = None) -> None:
        super().__init__(db, config, client)
        self.transport: Transport = transport or RestTransport(client)

    # ---- publish ---------------------------------------------------------------------------------

    def publish(self, workflow_id: int, operation: PublishOperation | str, *, operator: str) -> PublishOutcome:
        operation = PublishOperation(operation)
        with self.db.publish_lock(workflow_id) as acquired:
            if not acquired:
                raise ConflictError(f"a publish of workflow {workflow_id} is already running; try again later")
            with self.db.connect() as conn:
                repo = Repo(conn)
                row = repo.workflow_summary(workflow_id)
                if row is None:
                    raise NotFoundError(f"workflow {workflow_id} not found")
                version = repo.get_version_by_id(row["current_version_id"]) if row["current_version_id"] else None
                relations = repo.relations(workflow_id)
            attempt = _Attempt(operation)
            try:
                if version is None:
                    raise WorkflowValidationError("the workflow has no version to publish")
                snapshot = WorkflowSnapshot.model_validate(version["structure_snapshot"])
                if operation is PublishOperation.OFFLINE:
                    self._offline(row, snapshot, attempt)
                else:
                    if operation is PublishOperation.ONLINE and row["status"] == "offline":
                        raise ConflictError(
                            f"workflow {row['workflow_name']!r} is offline on the platform; put it online on the "
                            "platform before publishing it online"
                        )
                    was_online = self._deploy(row, version, snapshot, relations, attempt)
                    if operation is PublishOperation.ONLINE:
                        self._online(row, snapshot, attempt)
                    elif was_online is not None:
                        self._online(row, snapshot, attempt, schedule_online=was_online)
            except PublisherError as exc:
                return self._finish_failed(row, version, attempt, exc, operator)
            return self._finish_ok(row, version, attempt, operator)

    def _find(self, row: Row, name: str, attempt: _Attempt) -> RemoteDefinition | None:
        code = self._engine_code(row)
        if code is not None:
            current = self.client.get_definition(code)
            if current is not None:
                return current
            attempt.note(f"definition {code} no longer exists in DolphinScheduler; looking it up by name")
        found = self.client.query_by_name(name)
        if found is not None:
            attempt.note(f"found definition {found.code} named {name!r} in project {self.config.project_code}")
        return found

    def _deploy(self, row: Row, version: Row, snapshot: WorkflowSnapshot, relations: Sequence[Row],
                attempt: _Attempt) -> bool | None:
        """Write the definition; for one that was ONLINE and was rewritten, whether its schedule was online."""
        members = [t.task_id for t in snapshot.tasks]
        validate_definition({t.task_id: t for t in snapshot.tasks}, members, snapshot.dependencies)
        if snapshot.schedule is not None and attempt.operation is PublishOperation.ONLINE:
            convert_schedule(snapshot.schedule)  # an inexpressible cron fails before anything is written
        current = self._find(row, snapshot.name, attempt)

        stored = {r["task_id"]: int(r["engine_task_code"]) for r in relations
                  if r["engine_task_code"] and row["project_code"] == self.config.project_code}
        codes = {t: stored[t] for t in members if t in stored}
        if current is not None:
            used = set(codes.values())
            by_name = {t.name: t.code for t in current.tasks}
            for task in snapshot.tasks:
                code = by_name.get(task.name)
                if task.task_id not in codes and code is not None and code not in used:
                    codes[task.task_id] = code
                    used.add(code)
        missing = [t for t in members if t not in codes]
        if missing:
            new_codes = self.transport.gen_task_codes(len(missing))
            codes.update(zip(missing, new_codes, strict=True))
            attempt.note(f"generated {len(missing)} task codes")
        attempt.task_codes = codes
        versions = {t.code: t.version for t in current.tasks} if current else {}
        payload = convert(snapshot, codes, task_versions=versions)
        attempt.content_hash = payload.content_hash()

        if current is not None:
            attempt.code = current.code
            attempt.engine_version = current.version
            attempt.release_state = current.release_state
            unchanged = (
                self._engine_code(row) == current.code
                and row["published_content_hash"] == attempt.content_hash
                and row["last_published_version_id"] == version["id"]
                and current.name == snapshot.name
                and {t.code for t in current.tasks} == set(codes.values())
            )
            if unchanged:
                attempt.note(f"definition {current.code} already holds version {version['version_no']}: nothing sent")
                return None
        result = self.transport.upsert_definition(payload, current=current, note=attempt.note)
        attempt.code = result.code
        attempt.engine_version = result.engine_version
        attempt.release_state = result.release_state
        attempt.definition_written = True
        attempt.wrote = True
        if current is None or current.release_state != "ONLINE":
            return None
        return current.schedule_release_state == "ONLINE"

    def _online(self, row: Row, snapshot: WorkflowSnapshot, attempt: _Attempt, *,
                schedule_online: bool = True) -> None:
        """Release ONLINE and bring the schedule in line; ``schedule_online=False`` leaves it offline."""
        assert attempt.code is not None
        if attempt.release_state != "ONLINE":
            self.client.release(attempt.code, "ONLINE")
            attempt.release_state = "ONLINE"
            attempt.wrote = True
            attempt.note(f"released definition {attempt.code} ONLINE")
        else:
            attempt.note(f"definition {attempt.code} is already ONLINE")
        if snapshot.schedule is None and not row["engine_schedule_id"]:
            return
        schedules = self.client.list_schedules(attempt.code)
        existing = schedules[0] if schedules else None
        attempt.schedule_known = True
        if snapshot.schedule is None:
            if existing is not None and existing.release_state == "ONLINE":
                self.client.schedule_offline(existing.id)
                attempt.wrote = True
                attempt.note(f"the workflow has no schedule any more: schedule {existing.id} taken offline")
            attempt.schedule_id = existing.id if existing else None
            return
        wanted = convert_schedule(snapshot.schedule)
        for warning in dst_warnings(snapshot.schedule.cron, wanted.timezone_id, start=datetime.now()):
            log.warning("workflow %s schedule: %s", row["workflow_name"], warning)
            attempt.note(f"warning: {warning}")
        cfg = self.config
        if existing is None:
            created = self.client.create_schedule(attempt.code, wanted, worker_group=cfg.worker_group,
                                                  tenant_code=cfg.tenant_code)
            attempt.wrote = True
            attempt.note(f"created schedule {created.id} ({wanted.crontab}, {wanted.timezone_id})")
            existing_id, online = created.id, False
        else:
            existing_id, online = existing.id, existing.release_state == "ONLINE"
            same = existing.crontab == wanted.crontab and existing.timezone_id == wanted.timezone_id and (
                snapshot.schedule.start_time is None or existing.start_time == wanted.start_time) and (
                snapshot.schedule.end_time is None or existing.end_time == wanted.end_time)
            if not same:
                if online:
                    self.client.schedule_offline(existing.id)
                    online = False
                # Every current setting goes back (tenant, environment, alerts); the worker group is ours.
                self.client.update_schedule(existing, wanted, workerGroup=cfg.worker_group)
                attempt.wrote = True
                attempt.note(f"updated schedule {existing.id} to {wanted.crontab} ({wanted.timezone_id})")
        if not online and schedule_online:
            self.client.schedule_online(existing_id)
            attempt.wrote = True
            attempt.note(f"schedule {existing_id} online")
        attempt.schedule_id = existing_id

    def _offline(self, row: Row, snapshot: WorkflowSnapshot, attempt: _Attempt) -> None:
        code = self._engine_code(row)
        if code is None:
            found = self.client.query_by_name(snapshot.name)
            if found is None:
                raise WorkflowValidationError(
                    f"workflow {row['workflow_name']!r} has never been deployed to DolphinScheduler project "
                    f"{self.config.project_code}"
                )
            code = found.code
        self.client.release(code, "OFFLINE")
        attempt.code = code
        attempt.release_state = "OFFLINE"
        attempt.wrote = True
        attempt.note(f"released definition {code} OFFLINE (its schedule goes offline with it)")

    # ---- bookkeeping -----------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        for secret in (self.config.token, self.config.gateway_token):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _finish_ok(self, row: Row, version: Row | None, attempt: _Attempt, operator: str) -> PublishOutcome:
        status = RecordStatus.SUCCESS if attempt.wrote else RecordStatus.SKIPPED
        if status is RecordStatus.SKIPPED:
            attempt.note("nothing changed: no write was sent to DolphinScheduler")
        if attempt.release_state == "ONLINE":
            publish_status = "online"
        elif attempt.operation is PublishOperation.OFFLINE:
            publish_status = "offline"
        else:
            publish_status = "deployed"
        fields: dict[str, Any] = {
            "workflow_code": attempt.code, "project_code": self.config.project_code,
            "publish_status": publish_status, "publish_error_code": None, "publish_error_message": None,
            "engine_release_state": attempt.release_state,
        }
        if attempt.operation is not PublishOperation.OFFLINE and version is not None:
            fields["last_published_version_id"] = version["id"]
            fields["published_content_hash"] = attempt.content_hash
        if attempt.schedule_known:
            fields["engine_schedule_id"] = attempt.schedule_id
        with self.db.transaction() as repo:
            repo.update_workflow_fields(int(row["id"]), fields)
            if attempt.task_codes:
                repo.set_engine_task_codes(int(row["id"]), attempt.task_codes)
            if version is not None and attempt.engine_version is not None and attempt.operation is not \
                    PublishOperation.OFFLINE:
                repo.set_engine_version(int(version["id"]), attempt.engine_version)
            record = self._record(repo, row, version, attempt, status, operator, None)
        return PublishOutcome(record)

    def _finish_failed(self, row: Row, version: Row | None, attempt: _Attempt, exc: PublisherError,
                       operator: str) -> PublishOutcome:
        code = exc.code if isinstance(exc, DolphinError) else None
        message = (exc.msg if isinstance(exc, DolphinError) and exc.msg else exc.message)
        attempt.note(f"failed: {exc.message}")
        log.warning("publish %s of workflow %s failed: %s", attempt.operation.value, row["id"],
                    self._scrub(exc.message))
        fields: dict[str, Any] = {"publish_status": "failed", "publish_error_code": code,
                                  "publish_error_message": self._scrub(message)}
        if attempt.definition_written:
            # The definition reached the server before the failure (online failing at release or
            # schedule): remember where and what, so the retry neither duplicates nor rewrites it.
            fields.update(workflow_code=attempt.code, project_code=self.config.project_code,
                          engine_release_state=attempt.release_state, published_content_hash=attempt.content_hash,
                          last_published_version_id=version["id"] if version else None)
        with self.db.transaction() as repo:
            repo.update_workflow_fields(int(row["id"]), fields)
            if attempt.definition_written and attempt.task_codes:
                repo.set_engine_task_codes(int(row["id"]), attempt.task_codes)
            record = self._record(repo, row, version, attempt, RecordStatus.FAILED, operator, (code, message))
        return PublishOutcome(record, exc)

    def _record(self, repo: Repo, row: Row, version: Row | None, attempt: _Attempt, status: RecordStatus,
                operator: str, error: tuple[int | None, str] | None) -> PublishRecord:
        saved = repo.insert_publish_record({
            "workflow_id": row["id"], "version_id": version["id"] if version else None,
            "version_no": version["version_no"] if version else None, "operation": attempt.operation.value,
            "status": status.value, "engine_workflow_code": attempt.code, "engine_version": attempt.engine_version,
            "content_hash": attempt.content_hash, "error_code": error[0] if error else None,
            "error_message": self._scrub(error[1]) if error else None,
            "log": self._scrub("\n".join(attempt.lines)), "operator": operator,
        })
        return record_from_row(saved)
