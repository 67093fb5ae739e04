"""The /api/v1 router mounted in a FastAPI app, with stand-in auth dependencies; DolphinScheduler is the fake."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, HTTPException, Request

from dolphin_publisher.api.app import create_app
from dolphin_publisher.repository import Database
from dolphin_publisher.runtime import Runtime
from platform_api.auth import Access

from .conftest import PROJECT_CODE, fast_client, make_config
from .fake_dolphinscheduler import FakeDolphinScheduler

with warnings.catch_warnings():  # starlette's notice about its httpx-based test client is not ours to act on
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

READER = {"X-User": "rita"}
WRITER = {"X-User": "wendy", "X-Role": "writer"}


def read_access(request: Request) -> str:
    user = request.headers.get("X-User")
    if not user:
        raise HTTPException(status_code=401, detail="authentication required")
    return user


def write_access(request: Request) -> str:
    user = read_access(request)
    if request.headers.get("X-Role") != "writer":
        raise HTTPException(status_code=403, detail="DAG run access on data_pipeline required")
    return user


class Api:
    """Test client that remembers every answer, to check no secret ever leaves, and checks that the
    status of every answer is one the OpenAPI document declares for that operation."""

    def __init__(self, client: TestClient, app: FastAPI) -> None:
        self.client = client
        self.seen: list[str] = []
        self.operations = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), method.upper(),
                            set(operation["responses"]))
                           for path, item in app.openapi()["paths"].items() for method, operation in item.items()]

    def documented(self, method: str, path: str) -> set[str]:
        (statuses,) = [s for pattern, m, s in self.operations if m == method and pattern.match(path.split("?")[0])]
        return statuses

    def call(self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        response = self.client.request(method, "/api/v1" + path, headers=WRITER if headers is None else headers,
                                       **kwargs)
        self.seen.append(response.text)
        body = response.json()
        assert body["code"] == response.status_code and body["success"] is (response.status_code < 400)
        assert str(response.status_code) in self.documented(method, "/api/v1" + path), (method, path, body)
        return response.status_code, body


def _app(runtime: Runtime) -> FastAPI:
    return create_app(Access(read_access, write_access), runtime_factory=lambda: runtime, prefix="/api/v1")


@pytest.fixture
def api(runtime: Runtime) -> Iterator[Api]:
    app = _app(runtime)
    with TestClient(app) as client:
        yield Api(client, app)


WORKFLOW = {
    "name": "api_flow", "description": "through the API",
    "schedule": {"cron": "0 4 * * *", "timezone": "UTC"},
    "tasks": [{"task_id": "api_a", "command": "echo a"}, {"task_id": "api_b", "command": "echo b"}],
    "dependencies": [["api_a", "api_b"]],
}


def test_authentication_and_authorisation(api: Api) -> None:
    status, body = api.call("GET", "/workflows", headers={})
    assert (status, body["error_code"]) == (401, "UNAUTHORIZED")
    status, body = api.call("POST", "/workflows", headers=READER, json=WORKFLOW)
    assert (status, body["error_code"]) == (403, "FORBIDDEN")
    assert api.call("GET", "/workflows", headers=READER)[0] == 200


def test_workflow_crud_versions_diff_rollback(api: Api) -> None:
    status, body = api.call("POST", "/workflows", json=WORKFLOW)
    assert status == 201 and body["data"]["version"] == 1
    wid = body["data"]["workflow_id"]
    changed = {**WORKFLOW, "tasks": [*WORKFLOW["tasks"], {"task_id": "api_c", "command": "echo c"}],
               "dependencies": [["api_a", "api_b"], ["api_b", "api_c"]]}
    status, body = api.call("PUT", f"/workflows/{wid}", json=changed)
    assert status == 200 and body["data"]["version"] == 2
    _, listing = api.call("GET", "/workflows?search=api_", headers=READER)
    assert listing["data"]["total"] == 1 and listing["data"]["items"][0]["task_count"] == 3
    _, detail = api.call("GET", f"/workflows/{wid}", headers=READER)
    assert detail["data"]["entry_task_ids"] == ["api_a"] and detail["data"]["exit_task_ids"] == ["api_c"]
    assert detail["data"]["dolphinscheduler_url"] is None  # not published yet
    _, versions = api.call("GET", f"/workflows/{wid}/versions", headers=READER)
    assert [v["version_no"] for v in versions["data"]] == [2, 1]
    _, v1 = api.call("GET", f"/workflows/{wid}/versions/1", headers=READER)
    assert len(v1["data"]["structure_snapshot"]["tasks"]) == 2
    _, diff = api.call("GET", f"/workflows/{wid}/diff?from_version=1&to_version=2", headers=READER)
    assert diff["data"]["tasks_added"] == ["api_c"]
    status, rolled = api.call("POST", f"/workflows/{wid}/rollback", json={"version": 1})
    assert status == 200 and rolled["data"]["version"] == 3
    assert api.call("DELETE", f"/workflows/{wid}")[0] == 200
    status, gone = api.call("GET", f"/workflows/{wid}", headers=READER)
    assert (status, gone["error_code"]) == (404, "NOT_FOUND")


def test_errors_use_the_envelope(api: Api) -> None:
    cyclic = {**WORKFLOW, "dependencies": [["api_a", "api_b"], ["api_b", "api_a"]]}
    status, body = api.call("POST", "/workflows", json=cyclic)
    assert (status, body["error_code"]) == (400, "VALIDATION_ERROR")
    assert "cycle: api_a → api_b → api_a" in body["message"] and body["data"]["cycle"]
    status, body = api.call("POST", "/workflows", json={"description": "no name"})
    assert (status, body["error_code"]) == (400, "VALIDATION_ERROR") and "name" in body["message"]
    api.call("POST", "/workflows", json=WORKFLOW)
    status, body = api.call("POST", "/workflows", json={**WORKFLOW, "name": "other"})
    assert (status, body["error_code"]) == (409, "CONFLICT") and "api_a" in body["message"]
    status, body = api.call("GET", "/workflows/1/diff?from_version=1&to_version=7", headers=READER)
    assert status == 404


def test_publish_start_executions_and_logs(api: Api, fake_ds: FakeDolphinScheduler) -> None:
    wid = api.call("POST", "/workflows", json=WORKFLOW)[1]["data"]["workflow_id"]
    assert api.call("POST", f"/workflows/{wid}/online")[1]["data"]["status"] == "online"
    status, published = api.call("POST", f"/workflows/{wid}/publish", json={"operation": "online"})
    assert status == 200 and published["data"]["status"] == "success"
    code = published["data"]["engine_workflow_code"]
    _, detail = api.call("GET", f"/workflows/{wid}", headers=READER)
    assert detail["data"]["dolphinscheduler_url"].endswith(f"/ui/projects/{PROJECT_CODE}/workflow/definitions/{code}")
    assert detail["data"]["publish_status"] == "online"

    status, started = api.call("POST", f"/workflows/{wid}/start", json={"params": {"run_date": "2025-01-01"}})
    (instance_id,) = started["data"]["instance_ids"]
    fake_ds.complete_instance(instance_id, "FAILURE")
    _, executions = api.call("GET", f"/workflows/{wid}/executions?refresh=true", headers=READER)
    assert [(e["instance_id"], e["state"]) for e in executions["data"]] == [(instance_id, "FAILURE")]
    _, tasks = api.call("GET", f"/workflows/{wid}/executions/{instance_id}/tasks", headers=READER)
    states = {t["name"]: t["state"] for t in tasks["data"]["tasks"]}
    assert states == {"api_a": "SUCCESS", "api_b": "FAILURE"}
    task_instance = next(t["id"] for t in tasks["data"]["tasks"] if t["name"] == "api_b")
    _, log = api.call("GET", f"/task-instances/{task_instance}/log?limit=5", headers=READER)
    assert "echo b" in log["data"]["message"]
    status, other = api.call("GET", f"/workflows/{wid}/executions/424242/tasks", headers=READER)
    assert (status, other["error_code"], other["data"]["dolphin_code"]) == (404, "DOLPHIN_NOT_FOUND", 50001)

    second = api.call("POST", "/workflows", json={"name": "second", "tasks": [{"task_id": "s", "command": "x"}]}
                      )[1]["data"]["workflow_id"]
    assert api.call("POST", f"/workflows/{second}/publish", json={"operation": "online"})[0] == 200
    status, batch = api.call("POST", "/workflows/batch-start", json={"workflow_ids": [wid, second]})
    assert status == 200 and len(batch["data"]["result"]) == 2 and len(fake_ds.instances) == 3

    _, records = api.call("GET", f"/workflows/{wid}/publish-records", headers=READER)
    assert [r["operation"] for r in records["data"]] == ["online"]
    assert api.call("POST", f"/workflows/{wid}/publish", json={"operation": "offline"})[0] == 200
    _, cached = api.call("GET", f"/workflows/{wid}/executions", headers=READER)
    assert [e["instance_id"] for e in cached["data"]] == [instance_id]
    assert all(fake_ds.token not in text for text in api.seen)


def test_publish_failure_carries_the_server_code(api: Api, fake_ds: FakeDolphinScheduler) -> None:
    wid = api.call("POST", "/workflows", json=WORKFLOW)[1]["data"]["workflow_id"]
    fake_ds.error_next("create-workflow", 10105, "create workflow definition error")
    status, body = api.call("POST", f"/workflows/{wid}/publish", json={"operation": "deploy"})
    assert (status, body["error_code"]) == (502, "DOLPHIN_ERROR")
    assert (body["data"]["dolphin_code"], body["data"]["dolphin_msg"]) == (10105, "create workflow definition error")
    assert body["data"]["record"]["status"] == "failed"
    status, body = api.call("POST", f"/workflows/{wid}/publish", json={"operation": "deploy"})
    assert status == 200 and body["data"]["status"] == "success"
    status, body = api.call("POST", f"/workflows/{wid}/publish", json={"operation": "launch"})
    assert (status, body["error_code"]) == (400, "VALIDATION_ERROR")


def _dolphin_error(body: dict[str, Any]) -> tuple[str, int, str]:
    return body["error_code"], body["data"]["dolphin_code"], body["data"]["dolphin_msg"]


def test_dolphinscheduler_errors_about_the_request_are_4xx(api: Api, fake_ds: FakeDolphinScheduler) -> None:
    """DolphinScheduler's refusals that describe the request or the state of what it names are the
    caller's business: 404, 400 or 409, with the server's code and msg kept for the user."""
    wid = api.call("POST", "/workflows", json=WORKFLOW)[1]["data"]["workflow_id"]
    api.call("POST", f"/workflows/{wid}/online")
    assert api.call("POST", f"/workflows/{wid}/publish", json={"operation": "online"})[0] == 200

    status, body = api.call("GET", "/task-instances/987654/log", headers=READER)
    assert (status, *_dolphin_error(body)) == (404, "DOLPHIN_NOT_FOUND", 10008, "task instance not found")

    # Deleting an online definition takes it offline first (the real server refuses with 50021):
    # see test_dolphin_server_rules.py::test_delete_of_an_online_scheduled_workflow_takes_both_offline_first.

    assert api.call("POST", f"/workflows/{wid}/publish", json={"operation": "offline"})[0] == 200
    status, body = api.call("POST", f"/workflows/{wid}/start")
    assert (status, *_dolphin_error(body)[:2]) == (409, "DOLPHIN_CONFLICT", 50004)
    assert "not online" in body["message"] and not fake_ds.instances
    status, body = api.call("POST", "/workflows/batch-start", json={"workflow_ids": [wid]})
    # Started one by one: the workflow's own refusal (ExecutorServiceImpl answers 50004), not a batch 50014.
    assert (status, *_dolphin_error(body)[:2]) == (409, "DOLPHIN_CONFLICT", 50004)

    backwards = {"name": "backwards", "tasks": [{"task_id": "bw_1", "command": "echo 1"}],
                 "schedule": {"cron": "0 3 * * *", "start_time": "2030-01-01 00:00:00",
                              "end_time": "2029-01-01 00:00:00"}}
    bw = api.call("POST", "/workflows", json=backwards)[1]["data"]["workflow_id"]
    status, body = api.call("POST", f"/workflows/{bw}/publish", json={"operation": "online"})
    # SchedulerServiceImpl.insertSchedule: START_TIME_BIGGER_THAN_END_TIME_ERROR.
    assert (status, *_dolphin_error(body)[:2]) == (400, "DOLPHIN_INVALID", 80003)
    assert "start time bigger than end time" in body["data"]["dolphin_msg"]
    assert body["data"]["record"]["status"] == "failed" and body["data"]["record"]["error_code"] == 80003
    assert api.call("GET", f"/workflows/{bw}", headers=READER)[1]["data"]["publish_status"] == "failed"


@pytest.mark.parametrize(("endpoint", "code", "msg"), [
    ("create-workflow", 30001, "user has no operation privilege"),
    ("list-instances", 30002, "user robot is not has project 7001 permission"),
])
def test_a_token_without_permission_is_403_naming_the_token(api: Api, fake_ds: FakeDolphinScheduler, endpoint: str,
                                                            code: int, msg: str) -> None:
    wid = api.call("POST", "/workflows", json=WORKFLOW)[1]["data"]["workflow_id"]
    if endpoint == "list-instances":
        assert api.call("POST", f"/workflows/{wid}/publish", json={"operation": "deploy"})[0] == 200
    fake_ds.error_next(endpoint, code, msg)
    if endpoint == "create-workflow":
        status, body = api.call("POST", f"/workflows/{wid}/publish", json={"operation": "deploy"})
    else:
        status, body = api.call("GET", f"/workflows/{wid}/executions?refresh=true", headers=READER)
    assert (status, *_dolphin_error(body)) == (403, "DOLPHIN_PERMISSION_DENIED", code, msg)
    assert "DolphinScheduler access token lacks permission" in body["message"] and msg in body["message"]
    assert fake_ds.token not in str(body)


def test_only_dolphinscheduler_failing_is_5xx(api: Api, fake_ds: FakeDolphinScheduler) -> None:
    wid = api.call("POST", "/workflows", json=WORKFLOW)[1]["data"]["workflow_id"]
    assert api.call("POST", f"/workflows/{wid}/publish", json={"operation": "deploy"})[0] == 200

    fake_ds.error_next("list-instances", 10000, "Internal Server Error: NullPointerException")
    status, body = api.call("POST", f"/workflows/{wid}/sync")
    assert (status, *_dolphin_error(body)[:2]) == (502, "DOLPHIN_ERROR", 10000)

    fake_ds.fail_next("list-instances", status=500)  # a proxy's HTML error page: a read retries it
    assert api.call("POST", f"/workflows/{wid}/sync")[0] == 200

    fake_ds.fail_next("list-instances", times=3, status=503)  # every attempt the client makes
    status, body = api.call("POST", f"/workflows/{wid}/sync")
    assert (status, body["error_code"]) == (503, "DOLPHIN_UNAVAILABLE")

    assert api.call("POST", f"/workflows/{wid}/sync")[0] == 200  # recovered
    fake_ds.stop()
    status, body = api.call("POST", f"/workflows/{wid}/sync")
    assert (status, body["error_code"]) == (503, "DOLPHIN_UNAVAILABLE") and "cannot connect" in body["message"]


@pytest.mark.parametrize(("overrides", "status", "error_code", "hint"), [
    ({"project_code": 9999}, 503, "DOLPHIN_PROJECT_NOT_FOUND", "extra.project_code"),
    ({"token": "revoked"}, 502, "DOLPHIN_AUTH_ERROR", "rejected the access token"),
])
def test_wrong_settings_are_the_operators_not_the_callers(db: Database, fake_ds: FakeDolphinScheduler,
                                                          overrides: dict[str, Any], status: int, error_code: str,
                                                          hint: str) -> None:
    app = _app(Runtime(db, config=make_config(fake_ds, **overrides), client_factory=fast_client))
    with TestClient(app) as client:
        api = Api(client, app)
        wid = api.call("POST", "/workflows", json=WORKFLOW)[1]["data"]["workflow_id"]
        got, body = api.call("POST", f"/workflows/{wid}/publish", json={"operation": "deploy"})
    assert (got, body["error_code"]) == (status, error_code) and hint in body["message"]
    assert "revoked" not in str(body)


def test_task_list_assignment_and_reassignment(api: Api) -> None:
    first = api.call("POST", "/workflows", json=WORKFLOW)[1]["data"]["workflow_id"]
    status, _ = api.call("POST", "/tasks", json={"tasks": [{"task_id": "loose_1", "command": "echo 1"}]})
    assert status == 200
    status, body = api.call("POST", f"/workflows/{first}/tasks",
                            json={"task_ids": ["loose_1"], "dependencies": [["api_b", "loose_1"]]})
    assert status == 200 and body["data"]["version"] == 2
    second = api.call("POST", "/workflows", json={"name": "second", "tasks": [{"task_id": "s_1", "command": "x"}]}
                      )[1]["data"]["workflow_id"]
    status, body = api.call("POST", f"/workflows/{second}/tasks", json={"task_ids": ["api_b"]})
    assert status == 409
    status, body = api.call("POST", "/tasks/api_b/reassign", json={"workflow_id": second,
                                                                   "mode": "cascade_downstream"})
    assert status == 200
    _, listing = api.call("GET", f"/tasks?workflowId={second}", headers=READER)
    assert sorted(t["task_id"] for t in listing["data"]["items"]) == ["api_b", "loose_1", "s_1"]
    _, down = api.call("GET", "/tasks?upstreamTaskId=api_b", headers=READER)
    assert [t["task_id"] for t in down["data"]["items"]] == ["loose_1"]
    assert down["data"]["items"][0]["upstream_task_count"] == 1
    status, body = api.call("POST", "/tasks/api_a/reassign", json={"workflow_id": second, "mode": "sideways"})
    assert status == 400


    status, body = api.call("POST", "/tasks/no_such_task/reassign", json={"workflow_id": second, "mode": "only_this"})
    assert (status, body["error_code"]) == (404, "NOT_FOUND") and "no_such_task" in body["message"]


@pytest.fixture
def unconfigured_api(db: Database) -> Iterator[Api]:
    """No dolphinscheduler_default connection and no integration-config row."""
    app = _app(Runtime(db, client_factory=fast_client))
    with TestClient(app) as client:
        yield Api(client, app)


def test_without_dolphinscheduler_settings_remote_routes_say_how_to_configure(unconfigured_api: Api) -> None:
    api = unconfigured_api
    wid = api.call("POST", "/workflows", json=WORKFLOW)[1]["data"]["workflow_id"]
    assert api.call("GET", f"/workflows/{wid}", headers=READER)[1]["data"]["dolphinscheduler_url"] is None

    # An unknown workflow is a 404 whatever the settings.
    for method, path, payload in [("POST", "/workflows/999/start", None), ("POST", "/workflows/999/sync", None),
                                  ("POST", "/workflows/999/publish", {"operation": "deploy"}),
                                  ("POST", "/workflows/batch-start", {"workflow_ids": [wid, 999]}),
                                  ("GET", "/workflows/999/executions/1/tasks", None),
                                  ("GET", "/workflows/999/executions?refresh=true", None),
                                  ("DELETE", "/workflows/999?delete_in_dolphinscheduler=true", None)]:
        status, body = api.call(method, path, json=payload)
        assert (status, body["error_code"]) == (404, "NOT_FOUND"), path
        assert "workflow 999 not found" in body["message"]
    # A workflow never deployed has no DolphinScheduler instances.
    status, body = api.call("GET", f"/workflows/{wid}/executions/1/tasks", headers=READER)
    assert status == 404 and "never deployed" in body["message"]

    for method, path, payload in [("POST", f"/workflows/{wid}/publish", {"operation": "deploy"}),
                                  ("POST", f"/workflows/{wid}/start", None),
                                  ("POST", f"/workflows/{wid}/sync", None),
                                  ("GET", f"/workflows/{wid}/executions?refresh=true", None),
                                  ("GET", "/task-instances/1/log", None)]:
        status, body = api.call(method, path, json=payload)
        assert (status, body["error_code"]) == (503, "DOLPHIN_NOT_CONFIGURED"), path
        assert "dolphinscheduler_default" in body["message"]
        assert "AIRFLOW_CONN_DOLPHINSCHEDULER_DEFAULT" in body["message"] and "project_code" in body["message"]
    assert api.call("GET", f"/workflows/{wid}/executions", headers=READER)[1]["data"] == []  # the cache needs none


BIG = 2**63  # one past PostgreSQL bigint


@pytest.mark.parametrize(("method", "path", "payload"), [
    ("GET", f"/workflows/{BIG}", None),
    ("GET", f"/workflows/{10**30}/versions", None),
    ("GET", f"/workflows/1/versions/{2**31}", None),
    ("GET", f"/workflows/1/diff?from_version=1&to_version={2**31}", None),
    ("GET", f"/workflows/1/executions/{2**31}/tasks", None),
    ("GET", f"/task-instances/{BIG}/log", None),
    ("GET", f"/workflows?offset={BIG}", None),
    ("GET", "/workflows?search=a%00b", None),
    ("GET", "/workflows?publish_status=weird", None),
    ("GET", f"/tasks?workflowId={BIG}", None),
    ("GET", "/tasks?upstreamTaskId=a%00", None),
    ("POST", "/workflows/batch-start", {"workflow_ids": [BIG]}),
    ("POST", "/workflows/1/rollback", {"version": 2**31}),
    ("POST", "/tasks/t1/reassign", {"workflow_id": BIG, "mode": "only_this"}),
    ("POST", "/tasks", {"tasks": [{"task_id": "t1", "type": "SQL", "sql": "select 1", "datasource": 2**40}]}),
    ("POST", "/tasks", {"tasks": [{"task_id": "t1", "command": "echo \u0000"}]}),
    ("POST", "/workflows", {**WORKFLOW, "description": "lone \ud800 surrogate"}),
    ("POST", "/workflows", {**WORKFLOW, "schedule": {"cron": "0 4 * * *", "timezone": "Etc"}}),
    ("POST", "/workflows", {**WORKFLOW, "schedule": {"cron": "0 4 * * *", "timezone": "x" * 300}}),
    ("POST", "/workflows/1/start", {"params": {"k": "\u0000"}}),
    ("POST", "/workflows/1/tasks", {"task_ids": ["bad id with spaces"]}),
])
def test_out_of_range_ids_and_unstorable_text_are_400(api: Api, method: str, path: str, payload: Any) -> None:
    kwargs: dict[str, Any] = {}
    if payload is not None:  # json.dumps writes NUL and lone surrogates as \u escapes, as a client would
        kwargs = {"content": json.dumps(payload), "headers": {**WRITER, "Content-Type": "application/json"}}
    status, body = api.call(method, path, **kwargs)
    assert (status, body["error_code"]) == (400, "VALIDATION_ERROR"), body


def test_a_body_that_is_not_utf8_is_400(api: Api) -> None:
    status, body = api.call("POST", "/tasks", content=b'{"tasks": "\xff\xfe"}',
                            headers={**WRITER, "Content-Type": "application/json"})
    assert status == 400 and body["error_code"] == "BAD_REQUEST"


def test_openapi_declares_the_error_answers(runtime: Runtime) -> None:
    paths = _app(runtime).openapi()["paths"]
    remote = {("post", "/api/v1/workflows/{workflow_id}/publish"), ("post", "/api/v1/workflows/{workflow_id}/start"),
              ("post", "/api/v1/workflows/batch-start"), ("post", "/api/v1/workflows/{workflow_id}/sync"),
              ("get", "/api/v1/workflows/{workflow_id}/executions"),
              ("get", "/api/v1/workflows/{workflow_id}/executions/{instance_id}/tasks"),
              ("get", "/api/v1/task-instances/{task_instance_id}/log"), ("delete", "/api/v1/workflows/{workflow_id}")}
    for path, item in paths.items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert {"400", "401", "403", "500"} <= set(responses), (method, path)
            assert responses["400"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorEnvelope"}
            if "{workflow_id}" in path:
                assert "404" in responses, (method, path)
            if (method, path) in remote:
                assert {"502", "503"} <= set(responses) and "DOLPHIN_NOT_CONFIGURED" in responses["503"]["description"]
            else:
                assert "503" not in responses, (method, path)


def test_openapi_links_lead_from_a_new_workflow_to_its_task_logs(runtime: Runtime) -> None:
    """Clients (and generated-request runs) can follow create → online → publish → start → tasks → log."""
    operations = {op["operationId"]: op for item in _app(runtime).openapi()["paths"].values() for op in item.values()}
    chain = [("create_workflow", "201", "platform_online"), ("platform_online", "200", "publish"),
             ("publish", "200", "start"), ("start", "200", "execution_tasks"), ("execution_tasks", "200", "task_log")]
    for source, status, target in chain:
        link = operations[source]["responses"][status]["links"][target]
        assert link["operationId"] == target and set(link["parameters"]) == {
            p["name"] for p in operations[target]["parameters"] if p["in"] == "path"}, (source, target)
