"""``request_run`` and ``while_not_running`` against the task store: the check and the claim never interleave."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from data_pipeline.errors import Conflict, TaskNotFound
from data_pipeline.tasks.store import TaskStore
from data_pipeline.workflow.pipeline import create_task_from_parameters
from data_pipeline.workflow.runs import Credentials, request_run, while_not_running

from .conftest import FakeLauncher


@pytest.fixture
def task_id(task_store: TaskStore, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATA_PIPELINE_MAX_CONCURRENT_TASKS", "1000")
    return create_task_from_parameters(task_store, {"db_conn_id": "highway_demo", "table_list": ["bss_company"],
                                                    "business_context": "highway service areas"}, created_by="api")


def test_a_claim_waits_for_a_change_in_progress(task_store: TaskStore, task_id: str) -> None:
    launcher = FakeLauncher()
    entered, claimed_at = threading.Event(), []

    def change() -> None:
        with while_not_running(task_store, task_id, "upload files"):
            entered.set()
            time.sleep(0.4)
            task_store.add_log(task_id, "INFO", "changed while held")  # log inserts are not blocked by the hold

    worker = threading.Thread(target=change)
    worker.start()
    entered.wait(5)
    started = time.monotonic()
    run = request_run(task_store, launcher, Credentials("t"), task_id, requested_by="tester")
    claimed_at.append(time.monotonic() - started)
    worker.join()
    assert run.status == "in_progress" and claimed_at[0] >= 0.2
    with pytest.raises(Conflict, match="is running; upload files when it has finished"), \
            while_not_running(task_store, task_id, "upload files"):
        pass


def test_the_hold_needs_an_existing_task(task_store: TaskStore) -> None:
    with pytest.raises(TaskNotFound), while_not_running(task_store, "task_20000101_000000", "restore"):
        pass


def test_credentials_never_show_the_token() -> None:
    credentials = Credentials("secret-token-value")
    assert "secret-token-value" not in repr(credentials)
    assert credentials.headers() == {"Authorization": "Bearer secret-token-value"}
    assert Credentials().headers() == {}
