"""The ``/api/v1`` workflow routes as a FastAPI router the Airflow plugin mounts.

Authentication and authorisation are the plugin's: it passes two FastAPI dependencies, one for
reads and one for writes. The write dependency's return value (a user object or a name) becomes the
``operator`` of versions and publish records. Every answer uses the project's envelope
``{"success", "code", "message", "data"}``; errors add ``error_code``. Tokens never appear in an
answer: the config's public view leaves them out and errors carry only the server's code and msg.

Every status a route can answer is declared in its OpenAPI ``responses``: 400 (invalid input), 401
and 403 (the plugin's auth), 500, and per route 404 and 409. Routes that call DolphinScheduler
answer its business errors by whose business they are (``errors.classify_dolphin_code``): what
describes the request or the state of what it names is 400/404/409, a token without permission
403, each with the server's ``dolphin_code`` and ``dolphin_msg``. Only DolphinScheduler failing
stays 5xx: 502 when it answered 5xx, garbage or an internal error, 503 when it is not configured,
not reachable or timed out. They look the workflow up first, so an unknown workflow is a 404
whatever the settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException  # FastAPI's own is a subclass; body parse errors raise this one

from dolphin_publisher.errors import DolphinError, NotFoundError, PublisherError
from dolphin_publisher.models import (
    BIGINT_MAX,
    INT_MAX,
    TASK_ID_PATTERN,
    PublishOperation,
    PublishRecord,
    PublishStatus,
    ReassignMode,
    TaskId,
    TaskInfo,
    TaskSpec,
    Text,
    VersionInfo,
    WorkflowDetail,
    WorkflowFile,
    WorkflowStatus,
    WorkflowSummary,
)
from dolphin_publisher.runtime import Runtime

log = logging.getLogger(__name__)
D = TypeVar("D")


class Envelope(BaseModel, Generic[D]):
    success: bool
    code: int
    message: str
    data: D | None = None
    error_code: str | None = None


class ErrorEnvelope(BaseModel):
    """Every error answer; ``data`` holds details (validation errors, DolphinScheduler's code and msg)."""

    success: bool
    code: int
    message: str
    error_code: str
    data: dict[str, Any] | None = None


class Page(BaseModel, Generic[D]):
    items: list[D]
    total: int
    limit: int
    offset: int


class WorkflowRefOut(BaseModel):
    workflow_id: int
    name: str
    version: int
    changed: bool


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operation: PublishOperation


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1, le=INT_MAX)
    reassign_mode: ReassignMode | None = None


class StartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    params: dict[Text, Text] = Field(default_factory=dict)
    failure_strategy: str = Field(default="CONTINUE", pattern="^(CONTINUE|END)$")
    dry_run: bool = False


class BatchStartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workflow_ids: list[Annotated[int, Field(ge=1, le=BIGINT_MAX)]] = Field(min_length=1, max_length=100)


class AssignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task_ids: list[TaskId] = Field(min_length=1, max_length=5000)
    mode: ReassignMode | None = None
    dependencies: list[tuple[TaskId, TaskId]] | None = None


class ReassignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workflow_id: int = Field(ge=1, le=BIGINT_MAX)
    mode: ReassignMode


class TasksUpsertRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tasks: list[TaskSpec] = Field(min_length=1, max_length=5000)


WorkflowId = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="platform workflow id")]
VersionNo = Annotated[int, Path(ge=1, le=INT_MAX, description="version number of the workflow")]
InstanceId = Annotated[int, Path(ge=1, le=INT_MAX, description="DolphinScheduler workflow instance id")]
TaskInstanceId = Annotated[int, Path(ge=1, le=INT_MAX, description="DolphinScheduler task instance id")]
TaskIdPath = Annotated[str, Path(pattern=TASK_ID_PATTERN, description="platform task id")]

_ERROR_TEXT = {
    400: "Invalid request: parameters or body fail validation (error_code VALIDATION_ERROR)",
    401: "Not authenticated: no valid Airflow token",
    403: "Not allowed: needs read (GET) or run (other methods) access to the data_pipeline DAG",
    404: "Workflow, version, task or instance not found (NOT_FOUND)",
    409: "Conflicts with the current state: name taken, task owned by another workflow, publish running, "
         "workflow offline or not deployed (CONFLICT)",
    500: "Unexpected error; details in the API server log (INTERNAL_ERROR)",
    502: "DolphinScheduler failed: it answered HTTP 5xx, something that is not its API envelope, an internal "
         "error (for example 10105 create definition error) or a code not known to be about the request, or "
         "it rejected the configured token (DOLPHIN_ERROR, DOLPHIN_AUTH_ERROR); data has its code and msg",
    503: "DolphinScheduler unavailable: not configured (DOLPHIN_NOT_CONFIGURED; the message says how to configure "
         "it), settings incomplete (CONFIG_ERROR), configured project missing (DOLPHIN_PROJECT_NOT_FOUND), "
         "or not reachable or timed out (DOLPHIN_UNAVAILABLE)",
}
# Routes that call DolphinScheduler: its business errors are the caller's, with its code and msg in
# data (dolphin_code, dolphin_msg).
_REMOTE_TEXT = {
    400: _ERROR_TEXT[400] + "; or DolphinScheduler rejected the data (DOLPHIN_INVALID: 10001 bad parameter, "
                            "50017 data not valid, 50019 cycle, 50020 task params, 50030/50036 relations, 10198 "
                            "duplicate task name)",
    403: _ERROR_TEXT[403] + "; or the DolphinScheduler token lacks permission (DOLPHIN_PERMISSION_DENIED: "
                            "30001/30002)",
    404: _ERROR_TEXT[404] + "; or DolphinScheduler does not know the instance, definition, task instance or log "
                            "(DOLPHIN_NOT_FOUND: 50001, 50003, 10008)",
    409: _ERROR_TEXT[409] + "; or DolphinScheduler refuses it in the current state (DOLPHIN_CONFLICT: 50004 not "
                            "released, 50008/50021 online, 10168 name exists, 10204 schedule exists, 50035 DAG empty, "
                            "50014 on batch start)",
}


def _errors(*codes: int, remote: bool = False) -> dict[int | str, dict[str, Any]]:
    """The route's error statuses: validation, auth and internal errors always, plus ``codes``."""
    texts = {**_ERROR_TEXT, **(_REMOTE_TEXT if remote else {})}
    return {code: {"model": ErrorEnvelope, "description": texts[code]}
            for code in sorted({400, 401, 403, 500, *codes})}


FOUND = _errors(404)
CHANGE = _errors(404, 409)
REMOTE = _errors(404, 409, 502, 503, remote=True)

# OpenAPI links: which answer supplies the ids of the next call (create → online → publish → start →
# its task instances → their logs), for client generators and for schemathesis' stateful runs.
_WORKFLOW = {"workflow_id": "$response.body#/data/workflow_id"}
_SAME_WORKFLOW = {"workflow_id": "$request.path.workflow_id"}


def _linked(responses: dict[int | str, dict[str, Any]], status: int,
            **links: tuple[str, dict[str, str]]) -> dict[int | str, dict[str, Any]]:
    """``responses`` plus, on ``status``, links named after their target: (operationId, parameters)."""
    return {**responses, status: {"links": {
        name: {"operationId": operation, "parameters": parameters} for name, (operation, parameters) in links.items()}}}


def _follow(ids: dict[str, str], *operations: str) -> dict[str, tuple[str, dict[str, str]]]:
    return {operation: (operation, ids) for operation in operations}


def _answer(data: Any = None, *, message: str = "ok", status: int = 200) -> JSONResponse:
    return JSONResponse(status_code=status, content=jsonable_encoder(
        {"success": True, "code": status, "message": message, "data": data}))


def _error(status: int, error_code: str, message: str, data: Any = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, headers=headers, content=jsonable_encoder(
        {"success": False, "code": status, "message": message, "error_code": error_code, "data": data}))


def _from_publisher_error(exc: PublisherError, extra: dict[str, Any] | None = None) -> JSONResponse:
    data: dict[str, Any] = dict(exc.details)
    if isinstance(exc, DolphinError):
        data.update({"dolphin_code": exc.code, "dolphin_msg": exc.msg})
    data.update(extra or {})
    return _error(exc.http_status, exc.error_code, exc.message, data)


_HTTP_CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
               409: "CONFLICT"}


class EnvelopeRoute(APIRoute):
    """Turns every failure of a route (and of its auth dependencies) into the envelope.

    A router cannot install exception handlers (they belong to the app), so the route does it.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def envelope_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except PublisherError as exc:
                return _from_publisher_error(exc)
            except RequestValidationError as exc:
                errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
                          for e in exc.errors()]
                return _error(400, "VALIDATION_ERROR", "invalid request: " + "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors), {"errors": errors})
            except HTTPException as exc:
                return _error(exc.status_code, _HTTP_CODES.get(exc.status_code, "HTTP_ERROR"), str(exc.detail),
                              headers=exc.headers)
            except Exception:
                log.exception("unexpected error in %s %s", request.method, request.url.path)
                return _error(500, "INTERNAL_ERROR", "internal error; see the API server log")

        return envelope_handler


def _operator(user: Any) -> str:
    if isinstance(user, str) and user:
        return user
    for attr in ("username", "user_name", "name"):
        value = getattr(user, attr, None)
        if isinstance(value, str) and value:
            return value
    getter = getattr(user, "get_name", None)
    if callable(getter):
        return str(getter())
    return "api"


def create_router(read_access: Callable[..., Any], write_access: Callable[..., Any], *,
                  runtime_factory: Callable[[], Runtime] | None = None) -> APIRouter:
    """Routes for ``/api/v1``; ``read_access``/``write_access`` are FastAPI dependencies."""
    make_runtime = runtime_factory or Runtime
    router = APIRouter(route_class=EnvelopeRoute, tags=["workflows"],
                       generate_unique_id_function=lambda route: route.name)  # operationId = function name
    reader = [Depends(read_access)]

    # ---- workflows -------------------------------------------------------------------------------

    @router.get("/workflows", dependencies=reader, response_model=Envelope[Page[WorkflowSummary]],
                responses=_errors())
    def list_workflows(status: WorkflowStatus | None = None, publish_status: PublishStatus | None = None,
                       search: str | None = Query(default=None, max_length=200, pattern=r"^[^\x00]*$"),
                       limit: int = Query(default=50, ge=1, le=500),
                       offset: int = Query(default=0, ge=0, le=INT_MAX)) -> Any:
        items, total = make_runtime().workflows.list(status=status.value if status else None,
                                                     publish_status=publish_status.value if publish_status else None,
                                                     search=search, limit=limit, offset=offset)
        return _answer({"items": items, "total": total, "limit": limit, "offset": offset})

    @router.post("/workflows", status_code=201, response_model=Envelope[WorkflowRefOut], responses=_linked(
        _errors(409), 201, **_follow(_WORKFLOW, "get_workflow", "update_workflow", "delete_workflow", "list_versions",
                                     "platform_online", "platform_offline", "publish", "publish_records", "start",
                                     "executions", "sync", "assign"),
        get_version=("get_version", {**_WORKFLOW, "version": "$response.body#/data/version"})))
    def create_workflow(body: WorkflowFile, user: Any = Depends(write_access)) -> Any:
        ref = make_runtime().workflows.create(body, operator=_operator(user))
        return _answer(ref.to_dict(), message="workflow created", status=201)

    @router.post("/workflows/batch-start", response_model=Envelope[dict[str, Any]], responses=REMOTE)
    def batch_start(body: BatchStartRequest, user: Any = Depends(write_access)) -> Any:
        runtime = make_runtime()
        for workflow_id in dict.fromkeys(body.workflow_ids):
            runtime.workflows.require(workflow_id)
        with runtime.publisher() as publisher:
            return _answer(publisher.batch_start(body.workflow_ids, operator=_operator(user)),
                           message="instances started")

    @router.get("/workflows/{workflow_id}", dependencies=reader, response_model=Envelope[WorkflowDetail],
                responses=FOUND)
    def get_workflow(workflow_id: WorkflowId) -> Any:
        return _answer(make_runtime().workflows.get(workflow_id))

    @router.put("/workflows/{workflow_id}", response_model=Envelope[WorkflowRefOut], responses=_linked(
        CHANGE, 200, get_version=("get_version", {**_WORKFLOW, "version": "$response.body#/data/version"}),
        **_follow(_WORKFLOW, "publish")))
    def update_workflow(workflow_id: WorkflowId, body: WorkflowFile, user: Any = Depends(write_access)) -> Any:
        ref = make_runtime().workflows.update(workflow_id, body, operator=_operator(user))
        return _answer(ref.to_dict(), message="new version created" if ref.changed else "no change")

    @router.delete("/workflows/{workflow_id}", response_model=Envelope[dict[str, Any]], responses=REMOTE)
    def delete_workflow(workflow_id: WorkflowId, delete_in_dolphinscheduler: bool = False,
                        user: Any = Depends(write_access)) -> Any:
        runtime = make_runtime()
        runtime.workflows.require(workflow_id)  # 404 before any remote call
        code = None
        if delete_in_dolphinscheduler:
            with runtime.publisher() as publisher:
                code = publisher.delete_remote(workflow_id)
        runtime.workflows.delete(workflow_id)
        log.info("workflow %s deleted by %s (remote definition %s)", workflow_id, _operator(user), code)
        return _answer({"workflow_id": workflow_id, "deleted_engine_workflow_code": code}, message="deleted")

    # ---- versions --------------------------------------------------------------------------------

    @router.get("/workflows/{workflow_id}/versions", dependencies=reader, response_model=Envelope[list[VersionInfo]],
                responses=FOUND)
    def list_versions(workflow_id: WorkflowId) -> Any:
        return _answer(make_runtime().versions.list(workflow_id))

    @router.get("/workflows/{workflow_id}/versions/{version}", dependencies=reader,
                response_model=Envelope[VersionInfo], responses=FOUND)
    def get_version(workflow_id: WorkflowId, version: VersionNo) -> Any:
        return _answer(make_runtime().versions.get(workflow_id, version))

    @router.get("/workflows/{workflow_id}/diff", dependencies=reader, response_model=Envelope[dict[str, Any]],
                responses=FOUND)
    def diff(workflow_id: WorkflowId, from_version: int = Query(ge=1, le=INT_MAX),
             to_version: int = Query(ge=1, le=INT_MAX)) -> Any:
        return _answer(make_runtime().versions.diff(workflow_id, from_version, to_version))

    @router.post("/workflows/{workflow_id}/rollback", response_model=Envelope[WorkflowRefOut], responses=CHANGE)
    def rollback(workflow_id: WorkflowId, body: RollbackRequest, user: Any = Depends(write_access)) -> Any:
        ref = make_runtime().versions.rollback(workflow_id, body.version, operator=_operator(user),
                                               mode=body.reassign_mode)
        return _answer(ref.to_dict(), message=f"rolled back to the content of version {body.version}")

    # ---- platform state and publishing -----------------------------------------------------------

    @router.post("/workflows/{workflow_id}/online", response_model=Envelope[WorkflowSummary], responses=_linked(
        FOUND, 200, **_follow(_SAME_WORKFLOW, "publish", "start")))
    def platform_online(workflow_id: WorkflowId, user: Any = Depends(write_access)) -> Any:
        return _answer(make_runtime().workflows.set_status(workflow_id, WorkflowStatus.ONLINE,
                                                           operator=_operator(user)), message="online on the platform")

    @router.post("/workflows/{workflow_id}/offline", response_model=Envelope[WorkflowSummary], responses=FOUND)
    def platform_offline(workflow_id: WorkflowId, user: Any = Depends(write_access)) -> Any:
        return _answer(make_runtime().workflows.set_status(workflow_id, WorkflowStatus.OFFLINE,
                                                           operator=_operator(user)), message="offline on the platform")

    @router.post("/workflows/{workflow_id}/publish", response_model=Envelope[PublishRecord], responses=_linked(
        REMOTE, 200, **_follow(_SAME_WORKFLOW, "start", "sync", "executions", "publish_records", "delete_workflow",
                               "update_workflow")))
    def publish(workflow_id: WorkflowId, body: PublishRequest, user: Any = Depends(write_access)) -> Any:
        runtime = make_runtime()
        runtime.workflows.require(workflow_id)
        with runtime.publisher() as publisher:
            outcome = publisher.publish(workflow_id, body.operation, operator=_operator(user))
        if outcome.error is not None:
            return _from_publisher_error(outcome.error, {"record": outcome.record.model_dump(mode="json")})
        return _answer(outcome.record, message=f"{body.operation.value}: {outcome.record.status.value}")

    @router.get("/workflows/{workflow_id}/publish-records", dependencies=reader,
                response_model=Envelope[list[PublishRecord]], responses=FOUND)
    def publish_records(workflow_id: WorkflowId, limit: int = Query(default=50, ge=1, le=500)) -> Any:
        return _answer(make_runtime().workflows.publish_records(workflow_id, limit=limit))

    # ---- instances -------------------------------------------------------------------------------

    @router.post("/workflows/{workflow_id}/start", response_model=Envelope[dict[str, Any]], responses=_linked(
        REMOTE, 200, **_follow(_SAME_WORKFLOW, "sync", "executions"),
        execution_tasks=("execution_tasks", {**_SAME_WORKFLOW, "instance_id": "$response.body#/data/instance_ids/0"})))
    def start(workflow_id: WorkflowId, body: StartRequest | None = None, user: Any = Depends(write_access)) -> Any:
        body = body or StartRequest()
        runtime = make_runtime()
        runtime.workflows.require(workflow_id)
        with runtime.publisher() as publisher:
            result = publisher.start(workflow_id, operator=_operator(user), params=body.params or None,
                                     failure_strategy=body.failure_strategy, dry_run=body.dry_run)
        return _answer(result, message="instance started")

    @router.get("/workflows/{workflow_id}/executions", dependencies=reader, response_model=Envelope[list[Any]],
                responses=REMOTE)
    def executions(workflow_id: WorkflowId, refresh: bool = False) -> Any:
        """The cached latest executions; ``refresh=true`` syncs them from DolphinScheduler first."""
        runtime = make_runtime()
        runtime.workflows.require(workflow_id)
        if refresh:
            with runtime.history() as history:
                history.sync_workflow(workflow_id)
        return _answer(runtime.workflows.executions(workflow_id))

    @router.get("/workflows/{workflow_id}/executions/{instance_id}/tasks", dependencies=reader,
                response_model=Envelope[dict[str, Any]], responses=_linked(
                    REMOTE, 200, task_log=("task_log", {"task_instance_id": "$response.body#/data/tasks/0/id"})))
    def execution_tasks(workflow_id: WorkflowId, instance_id: InstanceId) -> Any:
        runtime = make_runtime()
        if runtime.workflows.require(workflow_id)["workflow_code"] is None:
            raise NotFoundError(f"instance {instance_id} does not belong to workflow {workflow_id}: "
                                "the workflow was never deployed to DolphinScheduler")
        with runtime.history() as history:
            return _answer(history.task_instances(workflow_id, instance_id))

    @router.get("/task-instances/{task_instance_id}/log", dependencies=reader,
                response_model=Envelope[dict[str, Any]], responses=REMOTE)
    def task_log(task_instance_id: TaskInstanceId, skip_line_num: int = Query(default=0, ge=0, le=INT_MAX),
                 limit: int = Query(default=1000, ge=1, le=10000)) -> Any:
        with make_runtime().history() as history:
            return _answer(history.task_log(task_instance_id, skip_lines=skip_line_num, limit=limit))

    @router.post("/workflows/{workflow_id}/sync", response_model=Envelope[dict[str, Any]], responses=REMOTE)
    def sync(workflow_id: WorkflowId, user: Any = Depends(write_access)) -> Any:
        runtime = make_runtime()
        runtime.workflows.require(workflow_id)
        with runtime.history() as history:
            return _answer(history.sync_workflow(workflow_id), message="synced")

    # ---- tasks -----------------------------------------------------------------------------------

    @router.post("/workflows/{workflow_id}/tasks", response_model=Envelope[WorkflowRefOut], responses=CHANGE)
    def assign(workflow_id: WorkflowId, body: AssignRequest, user: Any = Depends(write_access)) -> Any:
        ref = make_runtime().workflows.assign_tasks(workflow_id, body.task_ids, mode=body.mode,
                                                    dependencies=body.dependencies, operator=_operator(user))
        return _answer(ref.to_dict(), message="tasks assigned")

    @router.post("/tasks/{task_id}/reassign", response_model=Envelope[WorkflowRefOut], responses=CHANGE)
    def reassign(task_id: TaskIdPath, body: ReassignRequest, user: Any = Depends(write_access)) -> Any:
        ref = make_runtime().workflows.reassign_task(task_id, body.workflow_id, mode=body.mode,
                                                     operator=_operator(user))
        return _answer(ref.to_dict(), message="task reassigned")

    @router.get("/tasks", dependencies=reader, response_model=Envelope[Page[TaskInfo]], responses=_errors())
    def list_tasks(workflow_id: int | None = Query(default=None, alias="workflowId", ge=1, le=BIGINT_MAX),
                   upstream_task_id: str | None = Query(default=None, alias="upstreamTaskId", pattern=TASK_ID_PATTERN),
                   downstream_task_id: str | None = Query(default=None, alias="downstreamTaskId",
                                                          pattern=TASK_ID_PATTERN),
                   limit: int = Query(default=100, ge=1, le=1000),
                   offset: int = Query(default=0, ge=0, le=INT_MAX)) -> Any:
        items, total = make_runtime().workflows.list_tasks(
            workflow_id=workflow_id, upstream_task_id=upstream_task_id, downstream_task_id=downstream_task_id,
            limit=limit, offset=offset)
        return _answer({"items": items, "total": total, "limit": limit, "offset": offset})

    @router.post("/tasks", response_model=Envelope[dict[str, Any]], responses=_linked(
        _errors(), 200, reassign=("reassign", {"task_id": "$response.body#/data/task_ids/0"})))
    def upsert_tasks(body: TasksUpsertRequest, user: Any = Depends(write_access)) -> Any:
        ids = make_runtime().workflows.upsert_tasks(body.tasks)
        return _answer({"task_ids": ids}, message="tasks saved")

    return router
