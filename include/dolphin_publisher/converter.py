"""Version snapshot → the form fields DolphinScheduler's create/update endpoints take.

Pure functions: no I/O, linear in tasks + edges. The payload's content hash leaves out the task
versions the server assigns, so an unchanged workflow hashes the same before and after a publish.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from dolphin_publisher import graph
from dolphin_publisher.cron import to_quartz
from dolphin_publisher.models import DS_DATE_FORMAT, ScheduleSpec, TaskSpec, TaskType, WorkflowSnapshot

DEFAULT_SCHEDULE_END = "2099-12-31 23:59:59"
_QUERY_SQL = re.compile(r"^\s*(select|with|show|explain|values|table)\b", re.IGNORECASE)
_X0, _DX, _Y0, _DY = 80, 240, 80, 100  # canvas layout: one column per DAG level


@dataclass(frozen=True)
class DefinitionPayload:
    """Everything a create/update sends, as Python values; ``form()`` makes the wire format.

    Task definitions and relations are held with version 0; the server's versions (``task_versions``,
    known only for existing tasks) are applied on the wire. The content hash covers the version-less
    JSON, so it is the same before and after a publish, and is computed from the very strings sent.
    """

    name: str
    description: str
    global_params: list[dict[str, Any]]
    locations: list[dict[str, Any]]
    task_definitions: list[dict[str, Any]]
    task_relations: list[dict[str, Any]]
    task_codes: dict[str, int] = field(default_factory=dict)
    task_versions: dict[int, int] = field(default_factory=dict)
    timeout: int = 0
    execution_type: str = "PARALLEL"

    @cached_property
    def _json(self) -> dict[str, str]:
        return {
            "globalParams": _json(self.global_params),
            "locations": _json(self.locations),
            "taskRelationJson": _json(self.task_relations),
            "taskDefinitionJson": _json(self.task_definitions),
        }

    def form(self, *, release_state: str | None = None) -> dict[str, str]:
        data = {"name": self.name, "description": self.description, **self._json, "timeout": str(self.timeout),
                "executionType": self.execution_type}
        if self.task_versions:
            versions = self.task_versions
            data["taskDefinitionJson"] = _json([{**t, "version": versions.get(t["code"], 0)}
                                                for t in self.task_definitions])
            data["taskRelationJson"] = _json([
                {**r, "preTaskVersion": versions.get(r["preTaskCode"], 0) if r["preTaskCode"] else 0,
                 "postTaskVersion": versions.get(r["postTaskCode"], 0)} for r in self.task_relations])
        if release_state is not None:
            data["releaseState"] = release_state
        return data

    def content_hash(self) -> str:
        digest = hashlib.sha256()
        for part in (self.name, self.description, str(self.timeout), self.execution_type,
                     *(self._json[k] for k in sorted(self._json))):
            digest.update(part.encode())
            digest.update(b"\x00")
        return digest.hexdigest()


@dataclass(frozen=True)
class SchedulePayload:
    crontab: str
    timezone_id: str
    start_time: str
    end_time: str

    def schedule_json(self) -> str:
        return _json({"startTime": self.start_time, "endTime": self.end_time, "timezoneId": self.timezone_id,
                      "crontab": self.crontab})


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def task_params(task: TaskSpec) -> dict[str, Any]:
    if task.type is TaskType.SQL:
        sql_text = task.sql or ""
        return {
            "type": task.datasource_type, "datasource": task.datasource, "sql": sql_text,
            "sqlType": "0" if _QUERY_SQL.match(sql_text) else "1", "preStatements": [], "postStatements": [],
            "displayRows": 10, "localParams": [], "resourceList": [],
        }
    return {"rawScript": task.command or "", "localParams": [], "resourceList": []}


def task_definition(task: TaskSpec, code: int, version: int = 0) -> dict[str, Any]:
    timeout = task.timeout_minutes
    return {
        "code": code, "version": version, "name": task.name, "description": task.description,
        "taskType": task.type.value, "taskParams": task_params(task), "flag": "YES", "taskPriority": "MEDIUM",
        "workerGroup": task.worker_group, "environmentCode": -1, "failRetryTimes": task.retries,
        "failRetryInterval": task.retry_delay_minutes, "timeoutFlag": "OPEN" if timeout else "CLOSE",
        # Airflow's execution_timeout fails the task; FAILED makes DolphinScheduler do the same.
        "timeoutNotifyStrategy": "FAILED" if timeout else "", "timeout": timeout, "delayTime": 0,
        "taskGroupId": 0, "taskGroupPriority": 0, "cpuQuota": -1, "memoryMax": -1, "taskExecuteType": "BATCH",
    }


def convert(snapshot: WorkflowSnapshot, task_codes: Mapping[str, int], *,
            task_versions: Mapping[int, int] | None = None) -> DefinitionPayload:
    """``task_codes`` must hold a code for every task; ``task_versions`` the server's version per code."""
    versions = task_versions or {}
    ids = [t.task_id for t in snapshot.tasks]
    missing = [t for t in ids if t not in task_codes]
    if missing:
        raise ValueError(f"no task code for tasks {missing[:10]}")
    code_of = {t: int(task_codes[t]) for t in ids}
    definitions = [task_definition(t, code_of[t.task_id]) for t in snapshot.tasks]

    def relation(pre: str | None, post: str) -> dict[str, Any]:
        return {"name": "", "preTaskCode": code_of[pre] if pre else 0, "preTaskVersion": 0,
                "postTaskCode": code_of[post], "postTaskVersion": 0, "conditionType": "NONE", "conditionParams": {}}

    has_upstream = {b for _, b in snapshot.dependencies}
    relations = [relation(None, t) for t in ids if t not in has_upstream]
    relations.extend(relation(a, b) for a, b in snapshot.dependencies)

    depth = graph.levels(ids, snapshot.dependencies)
    rows: dict[int, int] = {}
    locations = []
    for task_id in ids:
        column = depth[task_id]
        row = rows.get(column, 0)
        rows[column] = row + 1
        locations.append({"taskCode": code_of[task_id], "x": _X0 + column * _DX, "y": _Y0 + row * _DY})

    params = [{"prop": p.prop, "direct": p.direct, "type": p.type, "value": p.value}
              for p in snapshot.global_params]
    return DefinitionPayload(
        name=snapshot.name, description=snapshot.description, global_params=params, locations=locations,
        task_definitions=definitions, task_relations=relations, task_codes=code_of,
        task_versions={code: versions[code] for code in code_of.values() if versions.get(code)},
    )


def convert_schedule(schedule: ScheduleSpec, *, now: datetime | None = None) -> SchedulePayload:
    """The DolphinScheduler schedule; starts today unless the file says otherwise."""
    start = schedule.start_time or (now or datetime.now()).strftime("%Y-%m-%d 00:00:00")
    datetime.strptime(start, DS_DATE_FORMAT)
    return SchedulePayload(crontab=to_quartz(schedule.cron), timezone_id=schedule.timezone, start_time=start,
                           end_time=schedule.end_time or DEFAULT_SCHEDULE_END)
