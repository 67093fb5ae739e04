"""One execution per task whoever starts the run: the task API, the Airflow UI/REST API or a schedule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_pipeline import STEPS
from data_pipeline.cli import main
from data_pipeline.errors import Conflict, InvalidInput, TaskRunning
from data_pipeline.tasks.store import TaskStore
from data_pipeline.workflow.pipeline import (
    backup_before_run,
    create_task_from_parameters,
    finalize_task,
    prepare_for_run,
)


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


def test_a_new_task_without_a_business_context_is_refused_everywhere(store: TaskStore, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InvalidInput, match="without task_id the run needs business_context") as refused:
        prepare_for_run({"db_conn_id": "highway_demo", "table_list": ["bss_company"], "business_context": "  "},
                        dag_id="data_pipeline", dag_run_id="manual__form", store=store)
    assert refused.value.details["missing_params"] == ["business_context"]
    with pytest.raises(InvalidInput, match="business_context is required for a new task"):
        create_task_from_parameters(store, {"db_conn_id": "highway_demo"}, created_by="manual")
    assert store.list_tasks().total == 0
    code = main(["run", "--no-db-tracking", "--output-dir", str(tmp_path / "out"), "--execution-mode", "step",
                 "--step-name", "qa_generation", "--db-conn-id", "highway_demo"])
    answer = json.loads(capsys.readouterr().out)
    assert code == 2 and answer["missing_params"] == ["business_context"], answer
    assert "business_context is required" in answer["message"]


def test_steps_a_run_does_not_select_keep_their_last_state(store: TaskStore, monkeypatch: pytest.MonkeyPatch) -> None:
    task_id = make_task(store)
    prepare_for_run({"task_id": task_id}, dag_id="data_pipeline", dag_run_id="manual__all", store=store)
    backup_before_run(task_id, store=store)
    for step in STEPS:
        store.update_step(task_id, step, status="running")
        store.update_step(task_id, step, status="completed", result={"run": "all"})
    assert finalize_task(task_id, store=store, dag_run_id="manual__all")["status"] == "completed"
    before = {s.step_name: s for s in store.get_steps(task_id)}

    prepare_for_run({"task_id": task_id, "execution_mode": "step", "step_name": "sql_validation"},
                    dag_id="data_pipeline", dag_run_id="manual__one", store=store)
    during = {s.step_name: s for s in store.get_steps(task_id)}
    task = store.require_task(task_id)
    assert task.selected_steps == ["sql_validation"] and (task.progress, task.current_step) == (0, "sql_validation")
    assert during["sql_validation"].status == "pending" and during["sql_validation"].completed_at is None
    for step in ("ddl_generation", "qa_generation", "training_load"):
        kept = during[step]
        assert (kept.status, kept.duration_seconds, kept.completed_at, kept.result, kept.selected) == \
            ("completed", before[step].duration_seconds, before[step].completed_at, {"run": "all"}, False)
    assert task.step_status["ddl_generation"] == "completed"

    store.update_step(task_id, "sql_validation", status="running")
    store.update_step(task_id, "sql_validation", status="failed", error_message="boom")
    result = finalize_task(task_id, store=store, dag_run_id="manual__one")
    assert result["status"] == "failed" and list(result["steps"]) == ["sql_validation"]
    after = {s.step_name: s for s in store.get_steps(task_id)}
    assert after["sql_validation"].status == "failed" and after["sql_validation"].selected
    assert after["sql_validation"].completed_at > before["sql_validation"].completed_at
    assert {after[s].status for s in ("ddl_generation", "qa_generation", "training_load")} == {"completed"}
    assert store.require_task(task_id).error_step == "sql_validation"
