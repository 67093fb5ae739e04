"""The workflow API in-process with the task API's stand-in auth: same envelope, same errors."""

from __future__ import annotations

import secrets

import pytest
from fastapi.testclient import TestClient

from .conftest import READER, V1, WRITER, envelope


def workflow(name: str | None = None) -> dict:
    suffix = secrets.token_hex(3)
    return {"name": name or f"unit_{suffix}", "tasks": [{"task_id": f"u_{suffix}_a", "command": "echo a"},
                                                         {"task_id": f"u_{suffix}_b", "command": "echo b"}],
            "dependencies": [[f"u_{suffix}_a", f"u_{suffix}_b"]]}


@pytest.mark.parametrize(("method", "path"), [("GET", "/workflows"), ("POST", "/workflows"),
                                               ("GET", "/tasks"), ("POST", "/workflows/1/publish")])
def test_the_same_auth_guards_every_route(v1: TestClient, method: str, path: str) -> None:
    assert envelope(v1.request(method, V1 + path, json={}), 401)["error_code"] == "UNAUTHORIZED"
    if method != "GET":
        assert envelope(v1.request(method, V1 + path, json={}, headers=READER), 403)["error_code"] == "FORBIDDEN"


def test_create_read_version_and_delete(v1: TestClient) -> None:
    body = workflow()
    created = envelope(v1.post(f"{V1}/workflows", json=body, headers=WRITER), 201)["data"]
    wid = created["workflow_id"]
    assert (created["version"], created["changed"]) == (1, True)
    detail = envelope(v1.get(f"{V1}/workflows/{wid}", headers=READER), 200)["data"]
    assert detail["name"] == body["name"] and detail["entry_task_ids"] == [body["tasks"][0]["task_id"]]
    versions = envelope(v1.get(f"{V1}/workflows/{wid}/versions", headers=READER), 200)["data"]
    assert [v["version_no"] for v in versions] == [1] and versions[0]["created_by"] == "wendy"
    deleted = envelope(v1.delete(f"{V1}/workflows/{wid}", headers=WRITER), 200)["data"]
    assert deleted == {"workflow_id": wid, "deleted_engine_workflow_code": None}
    assert envelope(v1.get(f"{V1}/workflows/{wid}", headers=READER), 404)["error_code"] == "NOT_FOUND"


def test_errors_have_the_task_apis_shape(v1: TestClient) -> None:
    body = envelope(v1.post(f"{V1}/workflows", json={"description": "no name"}, headers=WRITER), 400)
    assert body["error_code"] == "VALIDATION_ERROR" and body["missing_params"] == ["name"]
    assert body["data"]["errors"][0]["field"] == "name"
    taken = workflow()
    envelope(v1.post(f"{V1}/workflows", json=taken, headers=WRITER), 201)
    body = envelope(v1.post(f"{V1}/workflows", json={**taken, "name": "other_" + taken["name"]}, headers=WRITER), 409)
    assert body["error_code"] == "CONFLICT"
    body = envelope(v1.get(f"{V1}/workflows/{2**63}", headers=READER), 400)
    assert body["error_code"] == "VALIDATION_ERROR"


def test_dolphinscheduler_not_configured_is_503_saying_how(v1: TestClient) -> None:
    wid = envelope(v1.post(f"{V1}/workflows", json=workflow(), headers=WRITER), 201)["data"]["workflow_id"]
    body = envelope(v1.post(f"{V1}/workflows/{wid}/publish", json={"operation": "deploy"}, headers=WRITER), 503)
    assert body["error_code"] == "DOLPHIN_NOT_CONFIGURED" and "dolphinscheduler_default" in body["message"]
    body = envelope(v1.post(f"{V1}/workflows/999999/start", headers=WRITER), 404)
    assert "workflow 999999 not found" in body["message"]
