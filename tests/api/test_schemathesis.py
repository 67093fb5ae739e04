"""Property-based run over both OpenAPI documents against the real api-server.

Schemathesis generates requests (valid and invalid) for every operation; every response must be
documented, match its schema and never be a server error. At least 500 requests per app. /api/v1
talks to the session's DolphinScheduler (the fake, over HTTP), so its business errors are part of
what is generated against.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.conftest import LiveAirflow, envelope

# One worker: schemathesis' code generation hits a CPython 3.11 thread-safety bug with several.
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
          "response_headers_conformance")


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
    cmd = [str(Path(sys.executable).parent / "schemathesis"), "run", f"{base}/openapi.json", "--url", base,
           "--header", f"Authorization: Bearer {live.admin_token}", "--max-examples", "12", "--seed", "20251122",
           "--checks", CHECKS, "--workers", "1", "--no-color", "--output-truncate", "false",
           "--report", "junit", "--report-junit-path", str(tmp_path / "junit.xml")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    summary = re.search(r"(\d+) generated, (.*)", result.stdout)
    assert summary, result.stdout[-3000:]
    generated = int(summary.group(1))
    print(f"\n{prefix}: {summary.group(0)}")
    assert result.returncode == 0, result.stdout[-6000:]
    assert generated >= 500, summary.group(0)
    if prefix == "/api/v1":  # the run went through to DolphinScheduler, not only to validation and 404s
        assert live.dolphin.count() - dolphin_calls >= 50, live.dolphin.count() - dolphin_calls
