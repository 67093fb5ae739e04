"""Property-based run over both OpenAPI documents against the real api-server.

Schemathesis generates requests (valid and invalid) for every operation; every response must be
documented, match its schema and never be a server error. At least 500 requests per app. /api/v1
talks to the session's DolphinScheduler (the fake, over HTTP), so its business errors are part of
what is generated against. ``db_connection`` also gets URI-shaped values (tests/schemathesis_hooks.py);
the counts (generated, passed, 5xx, URI-shaped) are printed.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.api.conftest import LiveAirflow, envelope
from tests.schemathesis_run import run_schemathesis


def seed_workflows(live: LiveAirflow) -> None:
    """Workflows in each publish state, with finished and running instances, made through the API.

    Generated ids start small, so with these the run reaches DolphinScheduler (publish, start, sync,
    instances, logs, and its refusals) instead of stopping at 404 for every workflow id.
    """
    ds = live.dolphin
    with live.client("admin") as admin:
        def create(state: str, *, cron: str | None = None) -> int:
            suffix = secrets.token_hex(3)
            body = {"name": f"seed_{state}_{suffix}", "schedule": {"cron": cron} if cron else None,
                    "tasks": [{"task_id": f"seed_{state}_{suffix}_a", "command": "echo a"},
                              {"task_id": f"seed_{state}_{suffix}_b", "command": "echo b"}],
                    "dependencies": [[f"seed_{state}_{suffix}_a", f"seed_{state}_{suffix}_b"]]}
            return envelope(admin.post("/api/v1/workflows", json=body), 201)["data"]["workflow_id"]

        def publish(workflow_id: int, operation: str) -> None:
            envelope(admin.post(f"/api/v1/workflows/{workflow_id}/publish", json={"operation": operation}), 200)

        def start(workflow_id: int, finish: str | None) -> None:
            (instance,) = envelope(admin.post(f"/api/v1/workflows/{workflow_id}/start"), 200)["data"]["instance_ids"]
            if finish:
                ds.complete_instance(instance, finish)

        create("draft")
        publish(create("deployed"), "deploy")
        for state, cron in (("online", "0 3 * * *"), ("offline", None)):
            workflow_id = create(state, cron=cron)
            envelope(admin.post(f"/api/v1/workflows/{workflow_id}/online"), 200)
            publish(workflow_id, "online")
            start(workflow_id, "SUCCESS")
            start(workflow_id, "FAILURE")
            start(workflow_id, None)
            envelope(admin.post(f"/api/v1/workflows/{workflow_id}/sync"), 200)
        publish(workflow_id, "offline")


@pytest.mark.parametrize("prefix", ["/api/v0/data_pipeline", "/api/v1"])
def test_generated_requests_get_documented_non_5xx_answers(live: LiveAirflow, tmp_path: Path, prefix: str) -> None:
    base = f"{live.base_url}{prefix}"
    if prefix == "/api/v1":
        seed_workflows(live)
    dolphin_calls = live.dolphin.count()
    run = run_schemathesis(f"{base}/openapi.json", base, live.admin_token, tmp_path, max_examples=8)
    print("\n" + run.report(prefix))
    assert run.server_errors == [], run.server_errors[:10]
    assert run.returncode == 0, run.stdout[-6000:]
    assert run.generated >= 500, run.summary
    if prefix == "/api/v1":  # the run went through to DolphinScheduler, not only to validation and 404s
        assert live.dolphin.count() - dolphin_calls >= 50, live.dolphin.count() - dolphin_calls


def test_uri_shaped_connections_on_the_real_api_server(live: LiveAirflow, tmp_path: Path) -> None:
    """Many valid ``POST /tasks`` bodies whose ``db_connection`` is URI-shaped (tests/schemathesis_hooks.py)."""
    base = f"{live.base_url}/api/v0/data_pipeline"
    run = run_schemathesis(f"{base}/openapi.json", base, live.admin_token, tmp_path, max_examples=100,
                           only=("POST", "/tasks"), phases="fuzzing", mode="positive")
    print("\n" + run.report("POST /tasks"))
    assert run.server_errors == [], run.server_errors[:10]
    assert run.returncode == 0, run.stdout[-6000:]
    assert len(run.uri_calls) >= 50 and {c["status"] for c in run.uri_calls} >= {201, 400}, run.report("POST /tasks")
