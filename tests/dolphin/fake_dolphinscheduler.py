"""A DolphinScheduler 3.3/3.4 API server for tests, over real HTTP, following the real server's source.

Every behaviour below names the Java file it follows, on the ``dev`` branch of apache/dolphinscheduler
(2024-10, the 3.3 line; ``3.2.2-release`` differs only in naming: "process" for "workflow").
Abbreviations: ``api/`` = ``dolphinscheduler-api/src/main/java/org/apache/dolphinscheduler/api/``,
``controller/X`` = ``api/controller/X.java``, ``impl/X`` = ``api/service/impl/X.java``.

Transport, as the real server does it:
- Business errors come back with HTTP 200 and a non-zero ``code``; an unexpected exception too: the
  ``@ApiException`` status of the endpoint with the exception's message, or 10000 when the endpoint has
  none (``api/exceptions/ApiExceptionHandler.java``). The server itself never answers 5xx: a 5xx here is
  a test-injected proxy failure (``fail_next``) with an HTML body, never an envelope.
- A missing or malformed request parameter (Spring's binding fails before the controller runs) is
  handled by that same ``ApiExceptionHandler``: the endpoint's own code (10105, 10107, 50014, ...), not
  10001. A JSON body therefore reads as missing parameters, answered the same way.
- An unknown path is forwarded to the web UI: ``index.html`` with HTTP 200 (``controller/DsErrorController``).
- ``token`` header: a missing or wrong one gets 401 with an empty body (``api/interceptor/LoginHandlerInterceptor``).

Test controls are plain Python, not HTTP: fault injection (proxy 5xx, delays, a dropped response
after the call was performed), a call log, and instance completion.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import re
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import quartz

CONTEXT = "/dolphinscheduler"
FMT = "%Y-%m-%d %H:%M:%S"
FINISHED = {"SUCCESS", "FAILURE", "STOP", "PAUSE"}


class ApiError(Exception):
    def __init__(self, code: int, msg: str, http_status: int = 200) -> None:
        super().__init__(msg)
        self.code, self.msg, self.http_status = code, msg, http_status


def _now() -> str:
    return datetime.now().strftime(FMT)


@dataclass
class Call:
    method: str
    endpoint: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    status: int = 0


@dataclass
class Definition:
    project_code: int
    code: int
    name: str
    description: str
    global_params: str
    locations: str
    timeout: int
    execution_type: str
    tasks: list[dict[str, Any]]
    relations: list[dict[str, Any]]
    version: int = 1
    release_state: str = "OFFLINE"
    create_time: str = field(default_factory=_now)
    update_time: str = field(default_factory=_now)

    def as_json(self, schedule_state: str | None) -> dict[str, Any]:
        return {
            "id": self.code % 100000, "code": self.code, "name": self.name, "version": self.version,
            "releaseState": self.release_state, "projectCode": self.project_code, "description": self.description,
            "globalParams": self.global_params, "locations": self.locations, "timeout": self.timeout,
            "executionType": self.execution_type, "createTime": self.create_time, "updateTime": self.update_time,
            "scheduleReleaseState": schedule_state, "userName": "admin", "flag": "YES",
            "someFieldFromTheFuture": {"ignored": True},
        }


@dataclass
class Fault:
    kind: str  # "status" | "delay" | "drop" | "error"
    remaining: int
    status: int = 503
    seconds: float = 0.0
    mode: str = "close"


# (method, regex, endpoint name)
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile("^" + p + "$"), n) for m, p, n in [
        ("GET", r"/projects/(?P<p>[^/]+)/task-definition/gen-task-codes", "gen-task-codes"),
        ("POST", r"/projects/(?P<p>[^/]+)/workflow-definition", "create-workflow"),
        ("GET", r"/projects/(?P<p>[^/]+)/workflow-definition", "list-workflows"),
        ("GET", r"/projects/(?P<p>[^/]+)/workflow-definition/query-by-name", "query-by-name"),
        ("GET", r"/projects/(?P<p>[^/]+)/workflow-definition/verify-name", "verify-name"),
        ("GET", r"/projects/(?P<p>[^/]+)/workflow-definition/(?P<code>\d+)", "get-workflow"),
        ("PUT", r"/projects/(?P<p>[^/]+)/workflow-definition/(?P<code>\d+)", "update-workflow"),
        ("DELETE", r"/projects/(?P<p>[^/]+)/workflow-definition/(?P<code>\d+)", "delete-workflow"),
        ("POST", r"/projects/(?P<p>[^/]+)/workflow-definition/(?P<code>\d+)/release", "release"),
        ("POST", r"/projects/(?P<p>[^/]+)/executors/start-workflow-instance", "start"),
        ("POST", r"/projects/(?P<p>[^/]+)/executors/batch-start-workflow-instance", "batch-start"),
        ("POST", r"/projects/(?P<p>[^/]+)/executors/execute", "execute"),
        ("GET", r"/projects/(?P<p>[^/]+)/workflow-instances", "list-instances"),
        ("GET", r"/projects/(?P<p>[^/]+)/workflow-instances/(?P<id>\d+)", "get-instance"),
        ("GET", r"/projects/(?P<p>[^/]+)/workflow-instances/(?P<id>\d+)/tasks", "instance-tasks"),
        ("GET", r"/log/detail", "log-detail"),
        ("POST", r"/projects/(?P<p>[^/]+)/schedules", "create-schedule"),
        ("GET", r"/projects/(?P<p>[^/]+)/schedules", "list-schedules"),
        ("PUT", r"/projects/(?P<p>[^/]+)/schedules/(?P<id>\d+)", "update-schedule"),
        ("POST", r"/projects/(?P<p>[^/]+)/schedules/(?P<id>\d+)/online", "schedule-online"),
        ("POST", r"/projects/(?P<p>[^/]+)/schedules/(?P<id>\d+)/offline", "schedule-offline"),
    ]
]


# The ``@ApiException`` status of each endpoint: what a missing/malformed parameter or an unexpected
# exception answers (controller/WorkflowDefinitionController, TaskDefinitionController,
# ExecutorController, WorkflowInstanceController, LoggerController, SchedulerController).
ENDPOINT_ERRORS: dict[str, tuple[int, str]] = {
    "gen-task-codes": (10049, "login user query project list paging error"),
    "create-workflow": (10105, "create workflow definition error"),
    "list-workflows": (10122, "query workflow definition list paging error"),
    "query-by-name": (10109, "query detail of workflow definition error"),
    "verify-name": (10106, "verify workflow definition name unique error"),
    "get-workflow": (10109, "query detail of workflow definition error"),
    "update-workflow": (10107, "update workflow definition error"),
    "delete-workflow": (50022, "delete workflow definition by code error"),
    "release": (10108, "release workflow definition error"),
    "start": (50014, "start workflow instance error"),
    "batch-start": (50014, "batch start workflow instance error: {0}"),
    "execute": (50015, "execute workflow instance error"),
    "list-instances": (10113, "query workflow instance list paging error"),
    "get-instance": (10116, "query workflow instance by id error"),
    "instance-tasks": (10114, "query task list by workflow instance id error"),
    "log-detail": (10103, "view task instance log error: {0}"),
    "create-schedule": (10076, "create schedule error"),
    "list-schedules": (10080, "query schedule list paging error"),
    "update-schedule": (10077, "update schedule error"),
    "schedule-online": (10078, "publish schedule online error"),
    "schedule-offline": (10079, "offline schedule error"),
}
INDEX_HTML = b"<!DOCTYPE html><html><head><title>DolphinScheduler</title></head><body><div id=app></div></body></html>"
EXEC_TYPES = ("START_PROCESS", "COMPLEMENT_DATA")  # CommandType values ExecutorController switches on


class BadParam(Exception):
    """A request parameter Spring cannot bind: answered with the endpoint's @ApiException code."""


class FakeDolphinScheduler:
    def __init__(self, *, token: str = "fake-ds-token", projects: dict[int, str] | None = None) -> None:
        self.token = token
        self.projects = projects or {7001: "text2sql"}
        self.lock = threading.RLock()
        self.definitions: dict[int, Definition] = {}
        self.instances: dict[int, dict[str, Any]] = {}
        self.task_instances: dict[int, dict[str, Any]] = {}
        self.schedules: dict[int, dict[str, Any]] = {}
        self.issued_codes: set[int] = set()
        self.calls: list[Call] = []
        self._faults: dict[str, list[Fault]] = defaultdict(list)
        self._next_code = itertools.count(random.randint(10**12, 9 * 10**12) * 10)
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle --------------------------------------------------------------------------------

    def start(self) -> FakeDolphinScheduler:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-ds", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{CONTEXT}"

    # ---- test controls ----------------------------------------------------------------------------

    def fail_next(self, endpoint: str, times: int = 1, status: int = 503) -> None:
        with self.lock:
            self._faults[endpoint].append(Fault("status", times, status=status))

    def error_next(self, endpoint: str, code: int, msg: str, times: int = 1) -> None:
        """Answer the next calls with a business error (HTTP 200, non-zero ``code``)."""
        with self.lock:
            self._faults[endpoint].append(Fault("error", times, status=code, mode=msg))

    def delay_next(self, endpoint: str, seconds: float, times: int = 1) -> None:
        with self.lock:
            self._faults[endpoint].append(Fault("delay", times, seconds=seconds))

    def drop_response_after(self, endpoint: str = "create-workflow", times: int = 1, mode: str = "close") -> None:
        """Perform the call, then close the connection (``close``) or answer 502 (``502``)."""
        with self.lock:
            self._faults[endpoint].append(Fault("drop", times, mode=mode))

    def count(self, endpoint: str | None = None, *, method: str | None = None) -> int:
        with self.lock:
            return sum(1 for c in self.calls if (endpoint is None or c.endpoint == endpoint)
                       and (method is None or c.method == method))

    def writes(self) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method in ("POST", "PUT", "DELETE")]

    def reset_calls(self) -> None:
        with self.lock:
            self.calls.clear()

    def by_name(self, name: str, project_code: int | None = None) -> list[Definition]:
        with self.lock:
            return [d for d in self.definitions.values()
                    if d.name == name and (project_code is None or d.project_code == project_code)]

    def complete_instance(self, instance_id: int, state: str = "SUCCESS") -> None:
        with self.lock:
            inst = self.instances[instance_id]
            inst["state"], inst["endTime"] = state, _now()
            inst["duration"] = "1s"
            tasks = [t for t in self.task_instances.values() if t["_instance"] == instance_id]
            for i, task in enumerate(tasks):
                task["state"] = "FAILURE" if state == "FAILURE" and i == len(tasks) - 1 else "SUCCESS"
                task["endTime"] = _now()

    # ---- request plumbing -------------------------------------------------------------------------

    def _take_faults(self, endpoint: str) -> list[Fault]:
        taken = []
        with self.lock:
            for fault in self._faults.get(endpoint, []):
                if fault.remaining > 0:
                    fault.remaining -= 1
                    taken.append(fault)
        return taken

    def handle(self, method: str, path: str, query: dict[str, str], form: dict[str, str],
               headers: dict[str, str]) -> tuple[str, int, Any, Call]:
        """Returns (action, http status, body, call); action is "send" or "drop"."""
        route = None
        sub = path[len(CONTEXT):] if path.startswith(CONTEXT) else None
        for m, regex, name in _ROUTES:
            match = regex.match(sub or "")
            if match and m == method:
                route = (name, match.groupdict())
                break
        endpoint = route[0] if route else "unknown"
        call = Call(method, endpoint, path, query, form)
        with self.lock:
            self.calls.append(call)
        if route is None or sub is None:
            # controller/DsErrorController: a 404 is forwarded to the UI's index.html with HTTP 200.
            return "send", 200, INDEX_HTML, call
        faults = self._take_faults(endpoint)
        for fault in faults:
            if fault.kind == "delay":
                time.sleep(fault.seconds)
        for fault in faults:
            if fault.kind == "status":  # a proxy in front of the server failing: HTML, no envelope
                return "send", fault.status, b"<html>upstream unavailable</html>", call
        if headers.get("token") != self.token:
            return "send", 401, None, call
        for fault in faults:
            if fault.kind == "error":
                return "send", 200, self._envelope(ApiError(fault.status, fault.mode)), call
        # No JSON special case: the controllers bind @RequestParam from the query and the form only,
        # so a JSON body leaves the required parameters missing (answered below like any missing one).
        params = {**query, **form}
        name, groups = route
        try:
            if "p" in groups:
                project = groups["p"]
                if not project.isdigit():
                    raise BadParam(f"Failed to convert value of type 'java.lang.String' to required type "
                                   f"'long'; For input string: \"{project}\"")
                if int(project) not in self.projects:
                    raise ApiError(10018, f"project {project} not found ")  # impl/ProjectServiceImpl
                groups["p"] = int(project)
            status, data = getattr(self, "_" + name.replace("-", "_"))(params, **groups)
            body = self._envelope(None, data)
        except BadParam as exc:
            # api/exceptions/ApiExceptionHandler: the endpoint's @ApiException status, its message
            # template as is, then ":" and the exception's message.
            code, msg = ENDPOINT_ERRORS[name]
            status, body = 200, self._envelope(ApiError(code, f"{msg}:{exc}"))
        except ApiError as exc:
            status, body = exc.http_status, self._envelope(exc)
        if any(f.kind == "drop" for f in faults) and status < 300:
            mode = next(f.mode for f in faults if f.kind == "drop")
            return ("drop", 0, None, call) if mode == "close" else ("send", 502, b"Bad Gateway", call)
        return "send", status, body, call

    @staticmethod
    def _envelope(error: ApiError | None, data: Any = None) -> dict[str, Any]:
        """api/utils/Result.java: code, msg, data, success, failed (HTTP 200 either way)."""
        if error is not None:
            return {"code": error.code, "msg": error.msg, "data": None, "success": False, "failed": True}
        return {"code": 0, "msg": "success", "data": data, "success": True, "failed": False}

    # ---- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _required(params: dict[str, str], name: str) -> str:
        """A @RequestParam without default: missing → MissingServletRequestParameterException."""
        value = params.get(name)
        if value is None:
            raise BadParam(f"Required request parameter '{name}' for method parameter type String is not present")
        return value

    @staticmethod
    def _int(params: dict[str, str], name: str, default: int | None = None) -> int:
        value = params.get(name)
        if value in (None, "") and default is not None:
            return default
        if value is None:
            raise BadParam(f"Required request parameter '{name}' for method parameter type long is not present")
        try:
            return int(str(value))
        except ValueError as exc:
            raise BadParam(f"Failed to convert value of type 'java.lang.String' to required type 'long'; "
                           f"For input string: \"{value}\"") from exc

    @staticmethod
    def _enum(params: dict[str, str], name: str, values: tuple[str, ...], default: str | None = None,
              *, required: bool = True) -> str | None:
        """An enum @RequestParam: an unknown value fails to convert; a missing one is its default."""
        value = params.get(name)
        if value in (None, ""):
            if default is None and required:
                raise BadParam(f"Required request parameter '{name}' is not present")
            return default
        if value not in values:
            raise BadParam(f"Failed to convert value of type 'java.lang.String' to required type for '{name}': "
                           f"No enum constant {value}")
        return value

    @staticmethod
    def _page(items: list[Any], params: dict[str, str]) -> dict[str, Any]:
        """api/utils/PageInfo.java; pageNo/pageSize below 1 → 10001 (BaseController.checkPageParams)."""
        page_no = FakeDolphinScheduler._int(params, "pageNo")
        page_size = FakeDolphinScheduler._int(params, "pageSize")
        if page_no < 1 or page_size < 1:
            raise ApiError(10001, f"request parameter {'pageNo' if page_no < 1 else 'pageSize'} is not valid")
        start = (page_no - 1) * page_size
        return {"totalList": items[start:start + page_size], "total": len(items),
                "totalPage": (len(items) + page_size - 1) // page_size, "pageSize": page_size,
                "currentPage": page_no, "pageNo": page_no}

    def _definition(self, project: int, code: int | str) -> Definition:
        definition = self.definitions.get(int(code))
        if definition is None or definition.project_code != project:
            raise ApiError(50003, f"workflow definition {code} does not exist")
        return definition

    def _schedule_of(self, code: int) -> dict[str, Any] | None:
        return next((s for s in self.schedules.values() if s["workflowDefinitionCode"] == code), None)

    def _dag_data(self, d: Definition) -> dict[str, Any]:
        schedule = self._schedule_of(d.code)
        return {"workflowDefinition": d.as_json(schedule["releaseState"] if schedule else None),
                "workflowTaskRelationList": [dict(r, workflowDefinitionCode=d.code) for r in d.relations],
                "taskDefinitionList": [dict(t, projectCode=d.project_code) for t in d.tasks]}

    def _parse_json(self, params: dict[str, str], name: str, *, required: bool) -> Any:
        raw = self._required(params, name) if required else params.get(name)
        if raw in (None, ""):
            if required:
                raise ApiError(50017, f"data {name} not valid")
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ApiError(50017, f"data {name} not valid") from exc

    def _validate_dag(self, params: dict[str, str], *, project: int, exclude_code: int | None) -> dict[str, Any]:
        """impl/WorkflowDefinitionServiceImpl (create/update → checkWorkflowNodeList, checkTaskDefinitionList,
        checkTaskRelationList). No duplicate-task-name check exists there: two tasks may share a name."""
        name = self._required(params, "name").strip()
        tasks = self._parse_json(params, "taskDefinitionJson", required=True)
        relations = self._parse_json(params, "taskRelationJson", required=True)
        clash = next((d for d in self.definitions.values()
                      if d.name == name and d.code != exclude_code and d.project_code == project), None)
        if clash is not None:
            raise ApiError(10168, f"workflow definition name {name} already exists")
        if not isinstance(tasks, list) or not tasks:
            raise ApiError(50017, "data taskDefinitionJson not valid")
        codes: set[int] = set()
        for task in tasks:
            if not isinstance(task, dict) or not isinstance(task.get("code"), int) or not task.get("name"):
                raise ApiError(50017, "data taskDefinitionJson not valid")
            if task["code"] not in self.issued_codes:
                raise ApiError(50017, f"data taskDefinitionJson not valid: task code {task['code']} was not generated")
            owner = next((d for d in self.definitions.values()
                          if d.code != exclude_code and any(t["code"] == task["code"] for t in d.tasks)), None)
            if owner is not None:
                raise ApiError(50017, f"data taskDefinitionJson not valid: task code {task['code']} belongs to "
                                      f"workflow {owner.code}")
            task_params = task.get("taskParams") or {}
            kind = task.get("taskType")
            if kind not in ("SHELL", "PYTHON", "SQL") or (
                kind in ("SHELL", "PYTHON") and not str(task_params.get("rawScript") or "").strip()) or (
                kind == "SQL" and (not task_params.get("sql") or task_params.get("datasource") is None)):
                raise ApiError(50020, f"workflow node {task['name']} parameter invalid")
            codes.add(task["code"])
        if not isinstance(relations, list) or not relations:
            raise ApiError(50017, "data taskRelationJson not valid")
        for rel in relations:
            if not isinstance(rel, dict) or "postTaskCode" not in rel or "preTaskCode" not in rel:
                raise ApiError(50017, "data taskRelationJson not valid")
            if rel["postTaskCode"] == 0:
                raise ApiError(50036, "workflow node relation error")
        unknown = {r["postTaskCode"] for r in relations} - codes
        unknown |= {r["preTaskCode"] for r in relations if r["preTaskCode"] != 0} - codes
        if unknown:
            raise ApiError(50030, f"task definition [{','.join(str(c) for c in sorted(unknown))}] does not exist")
        orphans = codes - {r["postTaskCode"] for r in relations}
        if orphans:
            raise ApiError(50036, "workflow node relation error")
        succ: dict[int, list[int]] = defaultdict(list)
        indegree = dict.fromkeys(codes, 0)
        for rel in relations:
            if rel["preTaskCode"] != 0:
                succ[rel["preTaskCode"]].append(rel["postTaskCode"])
                indegree[rel["postTaskCode"]] += 1
        ready = [c for c, n in indegree.items() if n == 0]
        seen = 0
        while ready:
            node = ready.pop()
            seen += 1
            for nxt in succ[node]:
                indegree[nxt] -= 1
                if indegree[nxt] == 0:
                    ready.append(nxt)
        if seen != len(codes):
            raise ApiError(50019, "workflow node has cycle")
        global_params = params.get("globalParams") or "[]"  # defaultValue = "[]"
        if not isinstance(self._parse_json({"globalParams": global_params}, "globalParams", required=True), list):
            raise ApiError(50017, "data globalParams not valid")
        execution_type = self._enum(params, "executionType", ("PARALLEL", "SERIAL_WAIT", "SERIAL_DISCARD",
                                                              "SERIAL_PRIORITY"), "PARALLEL")
        return {"name": name, "tasks": tasks, "relations": relations, "global_params": global_params,
                "execution_type": execution_type, "description": params.get("description") or "",
                "locations": params.get("locations") or "", "timeout": self._int(params, "timeout", 0)}

    # ---- endpoints --------------------------------------------------------------------------------

    def _gen_task_codes(self, params: dict[str, str], p: int) -> tuple[int, Any]:
        """controller/TaskDefinitionController + impl/TaskDefinitionServiceImpl.genTaskCodeList:
        1 ≤ genNum ≤ 100 else 50017; a missing or non-numeric genNum is the endpoint's 10049."""
        count = self._int(params, "genNum")
        if not 1 <= count <= 100:
            raise ApiError(50017, f"data {count} not valid")
        with self.lock:
            codes = [next(self._next_code) for _ in range(count)]
            self.issued_codes.update(codes)
        return 200, codes

    def gateway_gen_task_codes(self, count: int) -> dict[str, Any]:
        """api/python/PythonGateway.genTaskCodeList: the service's result map, not a list."""
        try:
            _, codes = self._gen_task_codes({"genNum": str(count)}, next(iter(self.projects)))
        except ApiError as exc:
            return {"status": "DATA_IS_NOT_VALID", "msg": exc.msg}
        return {"status": "SUCCESS", "msg": "success", "data": codes}

    def _create_workflow(self, params: dict[str, str], p: int) -> tuple[int, Any]:
        """controller/WorkflowDefinitionController.createWorkflowDefinition: HTTP 201, created OFFLINE."""
        with self.lock:
            checked = self._validate_dag(params, project=p, exclude_code=None)
            code = next(self._next_code)
            for task in checked["tasks"]:
                task["version"] = 1
            definition = Definition(project_code=p, code=code, name=checked["name"],
                                    description=checked["description"], global_params=checked["global_params"],
                                    locations=checked["locations"], timeout=checked["timeout"],
                                    execution_type=checked["execution_type"], tasks=checked["tasks"],
                                    relations=checked["relations"])
            self.definitions[code] = definition
            return 201, definition.as_json(None)

    def _update_workflow(self, params: dict[str, str], p: int, code: str) -> tuple[int, Any]:
        """controller/WorkflowDefinitionController.updateWorkflowDefinition: ``releaseState`` defaults to
        OFFLINE; the service refuses an ONLINE definition (50008, impl/WorkflowDefinitionServiceImpl);
        after a successful update ``releaseState=ONLINE`` calls onlineWorkflowDefinition (its schedule
        is not touched: it stays as it was, offline after the release OFFLINE that preceded the edit)."""
        release = self._enum(params, "releaseState", ("ONLINE", "OFFLINE"), "OFFLINE")
        with self.lock:
            definition = self._definition(p, code)
            if definition.release_state == "ONLINE":
                raise ApiError(50008, f"workflow definition {definition.name} does not allow edit")
            checked = self._validate_dag(params, project=p, exclude_code=definition.code)
            old = {t["code"]: t for t in definition.tasks}
            for task in checked["tasks"]:
                before = old.get(task["code"])
                same = before is not None and {k: v for k, v in before.items() if k != "version"} == {
                    k: v for k, v in task.items() if k != "version"}
                task["version"] = before["version"] if same and before else (before["version"] + 1 if before else 1)
            definition.name, definition.description = checked["name"], checked["description"]
            definition.global_params, definition.locations = checked["global_params"], checked["locations"]
            definition.timeout, definition.execution_type = checked["timeout"], checked["execution_type"]
            definition.tasks, definition.relations = checked["tasks"], checked["relations"]
            definition.version += 1
            definition.update_time = _now()
            data = definition.as_json(None)  # the service returns the definition as updated, still OFFLINE
            if release == "ONLINE":
                definition.release_state = "ONLINE"
            return 200, data

    def _get_workflow(self, params: dict[str, str], p: int, code: str) -> tuple[int, Any]:
        """impl/WorkflowDefinitionServiceImpl.queryWorkflowDefinitionByCode: DagData; unknown → 50003."""
        with self.lock:
            return 200, self._dag_data(self._definition(p, code))

    def _query_by_name(self, params: dict[str, str], p: int) -> tuple[int, Any]:
        name = self._required(params, "name")
        with self.lock:
            found = next((d for d in self.definitions.values() if d.name == name and d.project_code == p), None)
            if found is None:
                raise ApiError(50003, f"workflow definition {name} does not exist")
            return 200, self._dag_data(found)

    def _verify_name(self, params: dict[str, str], p: int) -> tuple[int, Any]:
        name = self._required(params, "name")
        with self.lock:
            if any(d.name == name and d.project_code == p for d in self.definitions.values()):
                raise ApiError(10168, f"workflow definition name {name} already exists")
        return 200, None

    def _list_workflows(self, params: dict[str, str], p: int) -> tuple[int, Any]:
        """WorkflowDefinitionController.queryWorkflowDefinitionListPaging: pageNo, pageSize required."""
        search = params.get("searchVal") or ""
        with self.lock:
            items = [d.as_json(None) for d in sorted(self.definitions.values(), key=lambda d: -d.code)
                     if d.project_code == p and search in d.name]
        return 200, self._page(items, params)

    def _delete_workflow(self, params: dict[str, str], p: int, code: str) -> tuple[int, Any]:
        """impl/WorkflowDefinitionServiceImpl.deleteWorkflowDefinitionByCode: an ONLINE definition → 50021;
        an ONLINE schedule → 50023; an OFFLINE schedule is deleted with the definition."""
        with self.lock:
            definition = self._definition(p, code)
            if definition.release_state == "ONLINE":
                raise ApiError(50021, f"workflow definition [{definition.name}] is already online")
            schedule = self._schedule_of(definition.code)
            if schedule is not None and schedule["releaseState"] == "ONLINE":
                raise ApiError(50023, f"the status of schedule {schedule['id']} is already online")
            del self.definitions[definition.code]
            if schedule is not None:
                del self.schedules[schedule["id"]]
        return 200, None

    def _release(self, params: dict[str, str], p: int, code: str) -> tuple[int, Any]:
        """WorkflowDefinitionController.releaseWorkflowDefinition → online/offlineWorkflowDefinition: the same
        state again is a no-op; offline also takes the schedule offline (offlineSchedulerByWorkflowCode)."""
        state = self._enum(params, "releaseState", ("ONLINE", "OFFLINE"))
        with self.lock:
            definition = self._definition(p, code)
            if state == "ONLINE" and definition.release_state != "ONLINE" and not definition.relations:
                raise ApiError(50035, "workflow dag is empty")
            if state == "OFFLINE" and definition.release_state == "ONLINE":
                schedule = self._schedule_of(definition.code)
                if schedule is not None:
                    schedule["releaseState"] = "OFFLINE"
            definition.release_state = state
        return 200, True

    def _new_instance(self, definition: Definition, params: dict[str, str]) -> int:
        instance_id = next(self._ids)
        self.instances[instance_id] = {
            "id": instance_id, "name": f"{definition.name}-{definition.version}-{instance_id}",
            "workflowDefinitionCode": definition.code, "workflowDefinitionVersion": definition.version,
            "projectCode": definition.project_code, "state": "RUNNING_EXECUTION", "commandType": "START_PROCESS",
            "startTime": _now(), "endTime": None, "duration": None, "runTimes": 1, "host": "127.0.0.1:5678",
            "executorName": "admin", "scheduleTime": None, "startParams": params.get("startParams"),
        }
        for task in definition.tasks:
            tid = next(self._ids)
            self.task_instances[tid] = {
                "id": tid, "name": task["name"], "taskType": task["taskType"], "taskCode": task["code"],
                "state": "SUBMITTED_SUCCESS", "startTime": _now(), "endTime": None, "duration": None,
                "retryTimes": 0, "host": "127.0.0.1:1234", "_instance": instance_id,
                "_log": [f"[INFO] {_now()} task {task['name']} started",
                         f"[INFO] {_now()} rawScript: {task['taskParams'].get('rawScript', task['taskParams'])}",
                         f"[INFO] {_now()} task {task['name']} finished"],
            }
        return instance_id

    def _start_params(self, params: dict[str, str]) -> str | None:
        """ExecutorController: scheduleTime, failureStrategy, warningType are required (enums); startParams
        is a JSON map or a JSON list of properties (PropertyUtils.startParamsTransformPropertyList)."""
        self._required(params, "scheduleTime")
        self._enum(params, "failureStrategy", ("CONTINUE", "END"))
        self._enum(params, "warningType", ("NONE", "SUCCESS", "FAILURE", "ALL"))
        self._enum(params, "taskDependType", ("TASK_ONLY", "TASK_PRE", "TASK_POST"), required=False)
        raw = params.get("startParams")
        if raw:
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = []
            if not isinstance(value, dict | list):
                value = []
            return json.dumps(value)
        return None

    def _trigger(self, p: int, code: int, params: dict[str, str]) -> int:
        """impl/ExecutorServiceImpl (trigger): unknown definition → 50003, offline → 50004."""
        definition = self._definition(p, code)
        if definition.release_state != "ONLINE":
            raise ApiError(50004, f"workflow definition {definition.name} workflow version "
                                  f"{definition.version} not online")
        return self._new_instance(definition, params)

    def _start(self, params: dict[str, str], p: int) -> tuple[int, Any]:
        """ExecutorController.triggerWorkflowDefinition: ``execType`` defaults to START_PROCESS,
        ``taskDependType`` to TASK_POST; answers the list of instance ids."""
        code = self._int(params, "workflowDefinitionCode")
        self._start_params(params)
        self._enum(params, "execType", EXEC_TYPES, "START_PROCESS")
        with self.lock:
            return 200, [self._trigger(p, code, params)]

    def _batch_start(self, params: dict[str, str], p: int) -> tuple[int, Any]:
        """ExecutorController.batchTriggerWorkflowDefinitions: ``execType`` has *no default* here and the
        single-start method it calls per code switches on it, so a missing one is a NullPointerException
        → 50014 with message "…: {0}:null" (ApiExceptionHandler, unformatted template). The codes are
        started one by one: when one fails (its ServiceException code, e.g. 50004), the earlier ones are
        already running and the answer is only that error."""
        raw_codes = self._required(params, "workflowDefinitionCodes")
        self._start_params(params)
        exec_type = self._enum(params, "execType", EXEC_TYPES, required=False)
        try:
            codes = [int(c) for c in raw_codes.split(",")]
        except ValueError as exc:
            raise BadParam(f"For input string: \"{raw_codes}\"") from exc
        started: list[int] = []
        with self.lock:
            for code in codes:
                if exec_type is None:
                    raise BadParam("null")
                started.append(self._trigger(p, code, params))
        return 200, started

    def _execute(self, params: dict[str, str], p: int) -> tuple[int, Any]:
        """ExecutorController.controlWorkflowInstance: unknown instance → 50001."""
        instance_id = self._int(params, "workflowInstanceId")
        transitions = {"STOP": "STOP", "PAUSE": "PAUSE", "REPEAT_RUNNING": "RUNNING_EXECUTION",
                       "START_FAILURE_TASK_PROCESS": "RUNNING_EXECUTION",
                       "RECOVER_SUSPENDED_PROCESS": "RUNNING_EXECUTION"}
        kind = self._enum(params, "executeType", tuple(transitions))
        assert kind is not None
        with self.lock:
            inst = self.instances.get(instance_id)
            if inst is None or inst["projectCode"] != p:
                raise ApiError(50001, f"workflow instance {instance_id} does not exist")
            inst["state"] = transitions[kind]
            if kind == "REPEAT_RUNNING":
                inst["runTimes"] += 1
            inst["endTime"] = _now() if inst["state"] in FINISHED else None
        return 200, None

    @staticmethod
    def _public(instance: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in instance.items() if not k.startswith("_")}

    def _list_instances(self, params: dict[str, str], p: int) -> tuple[int, Any]:
        """WorkflowInstanceController.queryWorkflowInstanceList: newest first; pageNo, pageSize required."""
        code = self._int(params, "workflowDefinitionCode", 0)
        with self.lock:
            items = [self._public(i) for i in sorted(self.instances.values(), key=lambda i: -i["id"])
                     if i["projectCode"] == p and (not code or i["workflowDefinitionCode"] == code)]
        return 200, self._page(items, params)

    def _instance(self, p: int, instance_id: str) -> dict[str, Any]:
        inst = self.instances.get(int(instance_id))
        if inst is None or inst["projectCode"] != p:
            raise ApiError(50001, f"workflow instance {instance_id} does not exist")
        return inst

    def _get_instance(self, params: dict[str, str], p: int, id: str) -> tuple[int, Any]:
        with self.lock:
            return 200, self._public(self._instance(p, id))

    def _instance_tasks(self, params: dict[str, str], p: int, id: str) -> tuple[int, Any]:
        with self.lock:
            inst = self._instance(p, id)
            tasks = [self._public(t) for t in self.task_instances.values() if t["_instance"] == inst["id"]]
            return 200, {"workflowInstanceState": inst["state"], "taskList": tasks}

    def _log_detail(self, params: dict[str, str]) -> tuple[int, Any]:
        """controller/LoggerController.queryLog: taskInstanceId, skipLineNum, limit all required;
        an unknown task instance → 10008 (impl/LoggerServiceImpl)."""
        task_id = self._int(params, "taskInstanceId")
        skip = self._int(params, "skipLineNum")
        limit = self._int(params, "limit")
        with self.lock:
            task = self.task_instances.get(task_id)
            if task is None:
                raise ApiError(10008, "task instance not found")
            lines = task["_log"][skip:skip + limit]
        return 200, {"lineNum": len(lines), "message": "\n".join(lines)}

    def _schedule_json(self, params: dict[str, str], *, cron_error: int = 10001) -> dict[str, Any]:
        """impl/SchedulerServiceImpl (insert/update): equal times → 10141, start after end → 80003,
        a crontab Quartz refuses → 10001 naming the crontab (insert) / 10024 (update)."""
        raw = self._required(params, "schedule")
        try:
            schedule = json.loads(raw)
            start = datetime.strptime(schedule["startTime"], FMT)
            end = datetime.strptime(schedule["endTime"], FMT)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ApiError(10140, "parse cron to cron expression error") from exc
        if start == end:
            raise ApiError(10141, "The start time must not be the same as the end")
        if start > end:
            raise ApiError(80003, "start time bigger than end time error")
        try:
            quartz.parse(str(schedule.get("crontab") or ""))
        except quartz.QuartzError as exc:
            if cron_error == 10024:
                raise ApiError(10024, f"scheduler crontab expression validation failure: {schedule.get('crontab')}"
                               ) from exc
            raise ApiError(10001, f"request parameter {schedule.get('crontab')} is not valid") from exc
        return schedule

    def _schedule_settings(self, params: dict[str, str], *, failure_default: str) -> dict[str, Any]:
        """SchedulerController create/update defaults: warningType NONE, warningGroupId 1, tenantCode
        default, environmentCode -1, workerGroup default, priority MEDIUM; failureStrategy CONTINUE on
        create but END on update. An omitted field takes its default: update overwrites every field."""
        return {
            "warningType": self._enum(params, "warningType", ("NONE", "SUCCESS", "FAILURE", "ALL"), "NONE"),
            "warningGroupId": self._int(params, "warningGroupId", 1),
            "failureStrategy": self._enum(params, "failureStrategy", ("CONTINUE", "END"), failure_default),
            "workerGroup": params.get("workerGroup") or "default",
            "tenantCode": params.get("tenantCode") or "default",
            "environmentCode": self._int(params, "environmentCode", -1),
            "workflowInstancePriority": self._enum(
                params, "workflowInstancePriority", ("HIGHEST", "HIGH", "MEDIUM", "LOW", "LOWEST"), "MEDIUM"),
        }

    def _create_schedule(self, params: dict[str, str], p: int) -> tuple[int, Any]:
        """SchedulerController.createSchedule (HTTP 201) → impl/SchedulerServiceImpl.insertSchedule:
        the definition must be ONLINE (50004), one schedule per workflow (10204), created OFFLINE."""
        code = self._int(params, "workflowDefinitionCode")
        self._required(params, "schedule")
        settings = self._schedule_settings(params, failure_default="CONTINUE")
        with self.lock:
            definition = self._definition(p, code)
            if definition.release_state != "ONLINE":
                raise ApiError(50004, f"workflow definition {definition.name} workflow version "
                                      f"{definition.version} not online")
            existing = self._schedule_of(code)
            if existing is not None:
                raise ApiError(10204, f"workflow {code} schedule {existing['id']} already exist, please update "
                                      "or delete it")
            schedule = self._schedule_json(params)
            sid = next(self._ids)
            self.schedules[sid] = {
                "id": sid, "workflowDefinitionCode": code, "workflowDefinitionName": definition.name,
                "projectName": self.projects[p], "crontab": schedule["crontab"],
                "timezoneId": schedule.get("timezoneId"), "startTime": schedule["startTime"],
                "endTime": schedule["endTime"], "releaseState": "OFFLINE", **settings,
                "userName": "admin", "createTime": _now(), "updateTime": _now(), "_project": p,
            }
            return 201, self._public(self.schedules[sid])

    def _list_schedules(self, params: dict[str, str], p: int) -> tuple[int, Any]:
        """SchedulerController.queryScheduleListPaging → api/vo/ScheduleVO: crontab, timezoneId, startTime,
        endTime at the top level; an unknown workflowDefinitionCode → 50003; pageNo, pageSize required."""
        code = self._int(params, "workflowDefinitionCode", 0)
        with self.lock:
            if code:
                self._definition(p, code)
            items = [self._public(s) for s in self.schedules.values()
                     if s["_project"] == p and (not code or s["workflowDefinitionCode"] == code)]
        return 200, self._page(items, params)

    def _schedule(self, p: int, sid: str) -> dict[str, Any]:
        schedule = self.schedules.get(int(sid))
        if schedule is None or schedule["_project"] != p:
            raise ApiError(10203, f"schedule {sid} does not exist")
        return schedule

    def _update_schedule(self, params: dict[str, str], p: int, id: str) -> tuple[int, Any]:
        """SchedulerController.updateSchedule → impl/SchedulerServiceImpl.updateSchedule: unknown id →
        10203; ONLINE → 10023; otherwise every field is overwritten, omitted ones with their defaults."""
        self._required(params, "schedule")
        settings = self._schedule_settings(params, failure_default="END")
        with self.lock:
            schedule = self._schedule(p, id)
            if schedule["releaseState"] == "ONLINE":
                raise ApiError(10023, "online status does not allow update operations")
            new = self._schedule_json(params, cron_error=10024)
            schedule.update(crontab=new["crontab"], timezoneId=new.get("timezoneId"), startTime=new["startTime"],
                            endTime=new["endTime"], updateTime=_now(), **settings)
            return 200, self._public(schedule)

    def _schedule_online(self, params: dict[str, str], p: int, id: str) -> tuple[int, Any]:
        """impl/SchedulerServiceImpl.onlineScheduler: an unknown id or one already online is a silent
        success; a definition that is not ONLINE → 50004."""
        with self.lock:
            schedule = self.schedules.get(int(id))
            if schedule is None or schedule["releaseState"] == "ONLINE":
                return 200, True
            definition = self.definitions.get(schedule["workflowDefinitionCode"])
            if definition is None or definition.release_state != "ONLINE":
                raise ApiError(50004, f"workflow definition {schedule['workflowDefinitionName']} not online")
            schedule["releaseState"] = "ONLINE"
        return 200, True

    def _schedule_offline(self, params: dict[str, str], p: int, id: str) -> tuple[int, Any]:
        """impl/SchedulerServiceImpl.offlineScheduler: unknown or already offline is a silent success."""
        with self.lock:
            schedule = self.schedules.get(int(id))
            if schedule is not None:
                schedule["releaseState"] = "OFFLINE"
        return 200, True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_fake: FakeDolphinScheduler

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        form: dict[str, str] = {}
        if raw and "x-www-form-urlencoded" in content_type:
            form = {k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        action, status, body, call = self.server_fake.handle(self.command, parts.path, query, form, headers)
        call.status = status
        if action == "drop":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        payload = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
        self.send_response(status)
        if body is not None and not isinstance(body, bytes):
            self.send_header("Content-Type", "application/json")
        elif body == INDEX_HTML:
            self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch


def running_fake(**kwargs: Any) -> tuple[FakeDolphinScheduler, Callable[[], None]]:
    fake = FakeDolphinScheduler(**kwargs).start()
    return fake, fake.stop
