"""A real Airflow (api-server, scheduler, dag-processor, triggerer) with the plugin loaded, per session.

Everything is private to the session: Airflow home, metadata DB, task-store DB, data directory and
demo business database, so the tests can create, run and delete freely. DolphinScheduler is the
fake server of tests/dolphin over real HTTP (no DolphinScheduler can run here), configured through
``AIRFLOW_CONN_DOLPHINSCHEDULER_DEFAULT`` exactly as an operator would, so ``/api/v1`` works end to end.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from data_pipeline.schema import demo_db
from data_pipeline.tasks.store import TaskStore
from local_stack import components
from local_stack.airflow_env import VIEWER_USER, LocalAirflow, local_airflow
from platform_db import embedded
from tests.conftest import database_name, new_database
from tests.dolphin.fake_dolphinscheduler import FakeDolphinScheduler

API = "/api/v0/data_pipeline"
DS_PROJECT_CODE = 7001
DS_PROJECT_NAME = "text2sql"


@dataclass
class LiveAirflow:
    airflow: LocalAirflow
    stack: components.RunningStack
    admin_token: str
    viewer_token: str
    store: TaskStore
    data_dir: Path
    dolphin: FakeDolphinScheduler

    @property
    def base_url(self) -> str:
        return self.airflow.base_url

    def client(self, token: str | None = "admin", **kw: object) -> httpx.Client:
        headers = {}
        if token == "admin":
            headers["Authorization"] = f"Bearer {self.admin_token}"
        elif token == "viewer":
            headers["Authorization"] = f"Bearer {self.viewer_token}"
        elif token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60, **kw)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def dolphin() -> Iterator[FakeDolphinScheduler]:
    """The DolphinScheduler the live stack talks to; outlives the stack (started before, stopped after)."""
    fake = FakeDolphinScheduler(token=f"live-ds-{os.getpid()}", projects={DS_PROJECT_CODE: DS_PROJECT_NAME}).start()
    yield fake
    fake.stop()


def dolphin_connection(fake: FakeDolphinScheduler) -> str:
    """``dolphinscheduler_default`` in Airflow's JSON connection form."""
    return json.dumps({"conn_type": "http", "host": fake.base_url, "password": fake.token,
                       "extra": {"project_code": DS_PROJECT_CODE, "project_name": DS_PROJECT_NAME}})


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory, dolphin: FakeDolphinScheduler) -> Iterator[LiveAirflow]:
    root = tmp_path_factory.mktemp("live_airflow")
    data_dir = root / "training_data"
    data_dir.mkdir()
    store_uri = new_database("dp_live")
    demo_uri = new_database("dp_live_demo")
    demo_db.build_demo_database(demo_uri)
    metadata_db = f"airflow_live_{os.getpid()}"
    airflow = local_airflow(root / "airflow_home", port=_free_port(), metadata_db=metadata_db, extra_env={
        "AIRFLOW_CONN_DATA_PIPELINE_DB": store_uri,
        "AIRFLOW_CONN_HIGHWAY_DEMO": demo_uri,
        "DATA_PIPELINE_DATA_DIR": str(data_dir),
        "DATA_PIPELINE_DB_URI": store_uri,
        "DATA_PIPELINE_MAX_CONCURRENT_TASKS": "3",
        "AIRFLOW__CORE__PARALLELISM": "6",
        "AIRFLOW_CONN_DOLPHINSCHEDULER_DEFAULT": dolphin_connection(dolphin),
    })
    components.migrate(airflow)
    stack = components.start(airflow)
    store = TaskStore(store_uri)
    try:
        admin = components.wait_ready(stack, timeout=300)
        viewer = components.token(airflow, VIEWER_USER)
        store.migrate()
        yield LiveAirflow(airflow, stack, admin, viewer, store, data_dir, dolphin)
    finally:
        stack.stop()
        store.close()
        for uri in (store_uri, demo_uri):
            embedded.drop_database(database_name(uri))
        embedded.drop_database(metadata_db)


@pytest.fixture
def admin(live: LiveAirflow) -> Iterator[httpx.Client]:
    with live.client("admin") as client:
        yield client


def envelope(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status and body["success"] is (status < 400), body
    return body
