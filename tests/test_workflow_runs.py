"""One execution per task whoever starts the run: the task API, the Airflow UI/REST API or a schedule."""

from __future__ import annotations

import pytest

from data_pipeline.errors import Conflict, TaskRunning
from data_pipeline.tasks.store import TaskStore
from data_pipeline.workflow.pipeline import create_task_from_parameters, prepare_for_run


@pytest.fixture
def store(demo_store: TaskStore) -> TaskStore:
    return demo_store


def make_task(store: TaskStore) -> str:
    return create_task_from_parameters(store, {"db_conn_id": "highway_demo", "table_list": ["bss_company"],
                                               "business_context": "高速公路服务区"},
                                       created_by="api")


def test_a_second_run_of_a_running_task_is_refused(store: TaskStore) -> None:
    task_id = make_task(store)
    prepare_for_run({"task_id": task_id}, dag_id="data_pipeline", dag_run_id="manual__1", store=store)
    task = store.require_task(task_id)
    assert task.status == "in_progress" and task.dag_run_id == "manual__1"
    # a retry of the same run's prepare is fine
    prepare_for_run({"task_id": task_id}, dag_id="data_pipeline", dag_run_id="manual__1", store=store)
    with pytest.raises(TaskRunning, match="already running in DAG run manual__1"):
        prepare_for_run({"task_id": task_id}, dag_id="data_pipeline", dag_run_id="manual__2", store=store)
    assert store.require_task(task_id).dag_run_id == "manual__1"


def test_a_run_claimed_by_the_task_api_is_taken_over_by_its_own_run(store: TaskStore) -> None:
    task_id = make_task(store)
    store.claim_execution(task_id, max_concurrent=5)  # what POST /tasks/{id}/execute does before triggering
    prepare_for_run({"task_id": task_id}, dag_id="data_pipeline", dag_run_id="api__x", store=store)
    assert store.require_task(task_id).dag_run_id == "api__x"


def test_runs_started_outside_the_task_api_respect_the_concurrency_limit(store: TaskStore,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_PIPELINE_MAX_CONCURRENT_TASKS", "1")
    first, second = make_task(store), make_task(store)
    prepare_for_run({"task_id": first}, dag_id="data_pipeline", dag_run_id="manual__a", store=store)
    with pytest.raises(Conflict, match="max_concurrent_tasks is 1"):
        prepare_for_run({"task_id": second}, dag_id="data_pipeline", dag_run_id="manual__b", store=store)
    assert store.require_task(second).status == "pending"
