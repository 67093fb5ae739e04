"""Vector-table backups through the task API: taking one needs run permission, restoring waits for no task running.

The app gets a task store and vector tables of its own (one fresh database), so "no task runs" is
this test's to decide, not left to the tasks other tests leave running in the session's store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from data_pipeline.api.app import create_app
from data_pipeline.errors import Conflict
from data_pipeline.tasks.store import TaskStore
from data_pipeline.workflow.runs import Credentials, request_run, while_no_task_runs

from .conftest import API, FAKE_ACCESS, READER, WRITER, FakeLauncher, TestClient, envelope, new_task


@pytest.fixture
def own_store(fresh_db_uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TaskStore]:
    monkeypatch.setenv("DATA_PIPELINE_VECTOR_DB_URI", fresh_db_uri)
    monkeypatch.setenv("DATA_PIPELINE_MAX_CONCURRENT_TASKS", "10")
    store = TaskStore(fresh_db_uri, max_pool_size=4)
    store.migrate()
    yield store
    store.close()


@pytest.fixture
def own_client(own_store: TaskStore, data_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(FAKE_ACCESS, FakeLauncher(), store=own_store, prefix=API),
                    raise_server_exceptions=False) as client:
        yield client


def test_backups_need_run_permission_and_restore_waits_for_no_task_running(
        own_client: TestClient, own_store: TaskStore) -> None:
    task_id = new_task(own_client, table_list=["bss_company"])
    url = f"{API}/tasks/{task_id}/vector-backups"
    body = envelope(own_client.post(url, headers=READER), 403)
    assert "needs POST access" in body["message"]
    assert envelope(own_client.get(url, headers=READER), 200)["data"]["backups"] == []
    name = envelope(own_client.post(url, headers=WRITER), 200)["data"]["backup_name"]
    assert envelope(own_client.post(f"{url}/restore", json={"backup_name": name}, headers=READER), 403)

    running = new_task(own_client, table_list=["bss_company"])
    envelope(own_client.post(f"{API}/tasks/{running}/execute", headers=WRITER), 202)
    body = envelope(own_client.post(f"{url}/restore", json={"backup_name": name}, headers=WRITER), 409)
    assert body["error_code"] == "CONFLICT" and body["data"] == {"running_tasks": [running]}
    envelope(own_client.post(f"{url}/restore", json={"backup_name": "../x"}, headers=WRITER), 400)

    own_store.update_task(running, status="completed")
    restored = envelope(own_client.post(f"{url}/restore", json={"backup_name": name}, headers=WRITER), 200)["data"]
    assert restored["backup_name"] == name and restored["mode"] == "replace"


def test_no_task_starts_while_the_vector_tables_are_restored(own_client: TestClient, own_store: TaskStore) -> None:
    task_id = new_task(own_client, table_list=["bss_company"])
    entered = threading.Event()

    def restore() -> None:
        with while_no_task_runs(own_store, "restore the vector tables"):
            entered.set()
            time.sleep(0.4)

    worker = threading.Thread(target=restore)
    worker.start()
    assert entered.wait(5)
    started = time.monotonic()
    run = request_run(own_store, FakeLauncher(), Credentials("t"), task_id, requested_by="tester")
    waited = time.monotonic() - started
    worker.join()
    assert run.status == "in_progress" and waited >= 0.2
    with pytest.raises(Conflict, match="1 task\\(s\\) running; restore the vector tables when no task runs"), \
            while_no_task_runs(own_store, "restore the vector tables"):
        pass
