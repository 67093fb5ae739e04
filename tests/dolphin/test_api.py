"""The /api/v1 router mounted in a FastAPI app, with stand-in auth dependencies; DolphinScheduler is the fake."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, HTTPException, Request

from dolphin_publisher.api import create_router
from dolphin_publisher.runtime import Runtime

from .conftest import PROJECT_CODE
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
    """Test client that remembers every answer, to check no secret ever leaves."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.seen: list[str] = []

    def call(self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        response = self.client.request(method, "/api/v1" + path, headers=WRITER if headers is None else headers,
                                       **kwargs)
        self.seen.append(response.text)
        body = response.json()
        assert body["code"] == response.status_code and body["success"] is (response.status_code < 400)
        return response.status_code, body


@pytest.fixture
def api(runtime: Runtime) -> Iterator[Api]:
    app = FastAPI()
    app.include_router(create_router(read_access, write_access, runtime_factory=lambda: runtime), prefix="/api/v1")
    with TestClient(app) as client:
        yield Api(client)


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
    assert status == 502 and other["data"]["dolphin_code"] == 50001

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


def test_openapi_document_builds(runtime: Runtime) -> None:
    app = FastAPI()
    app.include_router(create_router(read_access, write_access, runtime_factory=lambda: runtime), prefix="/api/v1")
    paths = app.openapi()["paths"]
    assert "/api/v1/workflows/{workflow_id}/publish" in paths and "/api/v1/tasks" in paths
