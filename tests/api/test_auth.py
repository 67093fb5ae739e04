"""Every route of both plugin apps answers on a real api-server, and none answers without a token."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.api.conftest import LiveAirflow, envelope

APPS = ("/api/v0/data_pipeline", "/api/v1")
SAMPLE_VALUES = {"task_id": "task_20250101_000000", "file_path": "a.ddl", "file_name": "a.ddl",
                 "backup_name": "file_bak_20250101_000000", "workflow_id": "1", "version": "1",
                 "instance_id": "1", "task_instance_id": "1"}


def routes(live: LiveAirflow) -> list[tuple[str, str]]:
    found = []
    for prefix in APPS:
        doc = httpx.get(f"{live.base_url}{prefix}/openapi.json",
                        headers={"Authorization": f"Bearer {live.admin_token}"}).json()
        for path, item in doc["paths"].items():
            concrete = re.sub(r"\{(\w+)(:path)?\}", lambda m: SAMPLE_VALUES.get(m.group(1), "1"), path)
            for method in item:
                found.append((method.upper(), prefix + concrete))
    return found


def test_openapi_and_docs_are_served(live: LiveAirflow) -> None:
    with live.client("admin") as client:
        for prefix in APPS:
            assert client.get(f"{prefix}/openapi.json").json()["openapi"].startswith("3.")
            assert "swagger" in client.get(f"{prefix}/docs").text.lower()


def test_every_route_needs_authentication(live: LiveAirflow) -> None:
    found = routes(live)
    assert len(found) >= 40, found
    with live.client(None) as anonymous:
        for method, url in found:
            response = anonymous.request(method, url, json={})
            assert response.status_code == 401, (method, url, response.status_code, response.text[:200])
    with live.client("not-a-jwt") as forged:
        for method, url in found[:10]:
            assert forged.request(method, url, json={}).status_code in (401, 403)


def test_every_route_answers_with_a_token(live: LiveAirflow) -> None:
    with live.client("admin") as client:
        for method, url in routes(live):
            response = client.request(method, url, json={})
            assert response.status_code < 500 or response.status_code in (502, 503), (method, url, response.text[:300])
            if response.headers.get("content-type", "").startswith("application/json"):
                body = response.json()
                assert "success" in body and "code" in body, (method, url, body)


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/api/v0/data_pipeline/tasks", {"db_conn_id": "highway_demo", "table_list": ["bss_company"]}),
    ("DELETE", "/api/v0/data_pipeline/tasks/task_20250101_000000", {"confirm": True}),
    ("POST", "/api/v0/data_pipeline/tasks/task_20250101_000000/execute", {"execution_mode": "complete"}),
])
def test_read_only_user_cannot_change_anything(live: LiveAirflow, method: str, path: str, body: dict) -> None:
    with live.client("viewer") as viewer:
        response = viewer.request(method, path, json=body)
        envelope(response, 403)
        assert viewer.get("/api/v0/data_pipeline/tasks").status_code == 200
