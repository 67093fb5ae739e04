"""Schemathesis over the task API built without Airflow, served on the loopback by uvicorn in a thread.

The same CLI run as tests/api/test_schemathesis.py (same checks, the URI hooks for ``db_connection``)
with fewer examples per operation: every answer documented, matching its schema, never a 5xx.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from data_pipeline.api.app import create_app
from data_pipeline.tasks.store import TaskStore
from tests.schemathesis_run import run_schemathesis

from .conftest import FAKE_ACCESS, FakeLauncher


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(task_store: TaskStore, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DATA_PIPELINE_MAX_CONCURRENT_TASKS", "1000")
    app: FastAPI = create_app(FAKE_ACCESS, FakeLauncher(), store=task_store)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_generated_requests_get_documented_non_5xx_answers(served: str, tmp_path: Path) -> None:
    run = run_schemathesis(f"{served}/openapi.json", served, "writer-token", tmp_path, max_examples=3, timeout=600)
    print("\n" + run.report("task API without Airflow"))
    assert run.server_errors == [], run.server_errors[:10]
    assert run.returncode == 0, run.stdout[-6000:]
    assert run.generated >= 500, run.summary


def test_uri_shaped_connections_are_accepted_or_refused_never_crash(served: str, tmp_path: Path) -> None:
    run = run_schemathesis(f"{served}/openapi.json", served, "writer-token", tmp_path, max_examples=100,
                           timeout=600, only=("POST", "/tasks"), phases="fuzzing",
                           mode="positive")
    print("\n" + run.report("POST /tasks without Airflow"))
    assert run.server_errors == [], run.server_errors[:10]
    assert run.returncode == 0, run.stdout[-6000:]
    assert len(run.uri_calls) >= 50, run.report("POST /tasks")
    assert {c["status"] for c in run.uri_calls} >= {201, 400}  # some accepted, some refused, none crashed
