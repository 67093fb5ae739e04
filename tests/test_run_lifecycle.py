"""A failed run gives its task up at once: statuses, ``mark_run_failed``, the Airflow callbacks, a failing finalize."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from data_pipeline.errors import Conflict, StepFailed
from data_pipeline.tasks.records import StepRecord, TaskRecord
from data_pipeline.tasks.status import StepStatus, TaskStatus
from data_pipeline.tasks.store import TaskStore, reset_default_store
from data_pipeline.workflow.lifecycle import mark_run_failed
from data_pipeline.workflow.pipeline import create_task_from_parameters, finalize_task, prepare_for_run
from data_pipeline_airflow.callbacks import fail_killed_task, fail_pipeline_task
from dolphin_publisher.models import InstanceState


@pytest.fixture
def store(demo_store: TaskStore, fresh_db_uri: str, monkeypatch: pytest.MonkeyPatch) -> TaskStore:
    monkeypatch.setenv("DATA_PIPELINE_DB_URI", fresh_db_uri)  # what the callbacks' default store opens
    monkeypatch.setenv("DATA_PIPELINE_MAX_CONCURRENT_TASKS", "10")
    reset_default_store()
    return demo_store
    reset_default_store()


def make_task(store: TaskStore) -> str:
    return create_task_from_parameters(store, {"db_conn_id": "highway_demo", "table_list": ["bss_company"],
                                               "business_context": "高速公路服务区"},
                                       created_by="api")


def start_run(store: TaskStore, run_id: str) -> str:
    """A task prepared by a DAG run, its first step running."""
    task_id = make_task(store)
    prepare_for_run({"task_id": task_id}, dag_id="data_pipeline", dag_run_id=run_id, store=store)
    store.update_step(task_id, "ddl_generation", status="running", dag_run_id=run_id)
    return task_id


def failure_context(run_id: str, *, task_id: str = "ddl_generation", try_number: int = 3, max_tries: int = 2,
                    map_index: int = 0, params: dict | None = None, exception: BaseException | None = None) -> dict:
    """The parts of Airflow's callback context the callbacks read (``ti`` is a RuntimeTaskInstance there)."""
    ti = SimpleNamespace(task_id=task_id, dag_id="data_pipeline", run_id=run_id, try_number=try_number,
                         max_tries=max_tries, map_index=map_index)
    return {"ti": ti, "run_id": run_id, "params": params or {"task_id": None}, "exception": exception}


def test_statuses_are_strings_with_a_terminal_flag(store: TaskStore) -> None:
    assert TaskStatus.IN_PROGRESS == "in_progress" and json.dumps([TaskStatus.FAILED]) == '["failed"]'
    assert {s for s in TaskStatus if s.is_terminal()} == {"completed", "partial_completed", "failed"}
    assert {s for s in StepStatus if s.is_terminal()} == {"completed", "failed", "skipped"}
    assert {s for s in StepStatus if s.is_unfinished()} == {"pending", "running"}
    assert {s for s in InstanceState if s.is_terminal()} == {"SUCCESS", "FAILURE", "STOP", "PAUSE"}
    assert not InstanceState("RUNNING_EXECUTION").is_terminal()
    with store.connection() as conn:  # the enums and the tables' CHECK constraints name the same statuses
        checks = {r["conname"]: r["def"] for r in conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid IN "
            "('data_pipeline_tasks'::regclass, 'data_pipeline_task_steps'::regclass) AND contype = 'c'")}
    task_check = next(d for n, d in checks.items() if n == "data_pipeline_tasks_status_check")
    step_check = next(d for d in checks.values() if "'skipped'" in d)
    assert set(re.findall(r"'(\w+)'", task_check)) == set(TaskStatus)
    assert set(re.findall(r"'(\w+)'", step_check)) == set(StepStatus)
    task = store.require_task(make_task(store))
    assert task.status is TaskStatus.PENDING and task.model_dump(mode="json")["status"] == "pending"
    assert json.loads(task.model_dump_json())["step_status"]["ddl_generation"] == "pending"
    with pytest.raises(ValueError):
        store.update_task(task.id, status="running")  # a step status is not a task status
    assert TaskRecord.model_validate({**task.model_dump(), "status": "failed"}).status.is_terminal()
    assert StepRecord(step_name="qa_generation", status="skipped").status.is_terminal()


def test_mark_run_failed_releases_the_claim_once_and_only_for_its_own_run(store: TaskStore,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_PIPELINE_MAX_CONCURRENT_TASKS", "1")
    task_id = start_run(store, "manual__1")
    assert not mark_run_failed(store, task_id, "manual__other", "not mine")  # another run's late callback
    assert store.require_task(task_id).status == "in_progress"

    assert mark_run_failed(store, task_id, "manual__1", "ddl_generation died", step="ddl_generation")
    task = store.require_task(task_id)
    assert task.status == "failed" and task.error_message == "ddl_generation died"
    assert task.error_step == "ddl_generation" and task.completed_at is not None
    step = next(s for s in store.get_steps(task_id) if s.step_name == "ddl_generation")
    assert step.status == "failed" and step.error_message == "ddl_generation died"
    assert task.step_status["ddl_generation"] == "failed"
    logs, _ = store.query_logs(task_id, search="execution marked failed")
    assert len(logs) == 1 and logs[0].log_level == "ERROR"

    assert not mark_run_failed(store, task_id, "manual__1", "again")  # idempotent
    assert store.require_task(task_id).error_message == "ddl_generation died"
    other = make_task(store)  # the limit is 1: the failed run no longer counts
    prepare_for_run({"task_id": other}, dag_id="data_pipeline", dag_run_id="manual__2", store=store)
    assert store.require_task(other).status == "in_progress"
    assert not mark_run_failed(store, other, "manual__1", "stale")  # manual__1 holds nothing any more


def test_claims_without_a_run_and_the_execution_itself(store: TaskStore) -> None:
    api_claimed = make_task(store)
    store.claim_execution(api_claimed, max_concurrent=5)  # the task API claims before its run exists
    assert mark_run_failed(store, api_claimed, "manual__9", "prepare failed")
    cli_run = start_run(store, "manual__3")
    assert mark_run_failed(store, cli_run, None, "finalize failed: disk full")  # None: the execution itself
    done = make_task(store)
    store.update_task(done, status="completed")
    assert not mark_run_failed(store, done, None, "late")
    assert store.require_task(done).status == "completed"


def test_failure_callback_fails_the_run_task_with_the_reason(store: TaskStore) -> None:
    task_id = start_run(store, "manual__cb")
    untouched = start_run(store, "manual__busy")
    fail_pipeline_task(failure_context("manual__cb", exception=StepFailed("ddl_generation batch 0 failed: boom")))
    task = store.require_task(task_id)
    assert task.status == "failed" and task.error_step == "ddl_generation"
    assert task.error_message == ("Airflow task ddl_generation[0] failed in DAG run manual__cb (try 3): "
                                  "ddl_generation batch 0 failed: boom")
    assert store.require_task(untouched).status == "in_progress"

    # prepare refused a task another run holds: that run keeps it
    fail_pipeline_task(failure_context("manual__late", task_id="prepare", map_index=-1, try_number=2,
                                       params={"task_id": untouched}, exception=Conflict("already running")))
    assert store.require_task(untouched).status == "in_progress"
    # a task the API claimed for this run, which prepare had not linked yet
    claimed = make_task(store)
    store.claim_execution(claimed, max_concurrent=5)
    fail_pipeline_task(failure_context("manual__new", task_id="prepare", map_index=-1, params={"task_id": claimed}))
    assert store.require_task(claimed).error_message == "Airflow task prepare failed in DAG run manual__new (try 3)"


def test_a_kill_fails_the_task_only_when_no_retry_follows(store: TaskStore) -> None:
    task_id = start_run(store, "manual__kill")
    ti = failure_context("manual__kill", task_id="backup_existing_files", map_index=-1, try_number=1)["ti"]
    fail_killed_task(ti, pipeline_task_id=task_id)
    assert store.require_task(task_id).status == "in_progress"  # try 1 of 3: Airflow retries it
    ti.try_number = 3
    fail_killed_task(ti, pipeline_task_id=task_id)
    task = store.require_task(task_id)
    assert task.status == "failed" and task.error_message == (
        "Airflow task backup_existing_files was killed in DAG run manual__kill (try 3)")


def test_a_failing_finalize_fails_the_task_and_frees_the_slot(store: TaskStore, data_dir: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_PIPELINE_MAX_CONCURRENT_TASKS", "1")
    task_id = start_run(store, "manual__fin")
    store.update_step(task_id, "ddl_generation", status="completed")
    # The result file cannot be written: a directory sits where it goes (root ignores permission bits).
    (data_dir / task_id / "task_result.json").mkdir()
    with pytest.raises(IsADirectoryError):
        finalize_task(task_id, store=store, dag_run_id="manual__fin")
    task = store.require_task(task_id)
    assert task.status == "failed"
    assert task.error_message.startswith("finalize failed: IsADirectoryError")
    assert "task_result.json" in task.error_message
    second = make_task(store)
    prepare_for_run({"task_id": second}, dag_id="data_pipeline", dag_run_id="manual__next", store=store)
    assert store.require_task(second).status == "in_progress"


def test_finalize_leaves_a_task_another_run_holds(store: TaskStore) -> None:
    task_id = start_run(store, "manual__owner")
    with pytest.raises(Conflict, match="held by DAG run manual__owner"):
        finalize_task(task_id, store=store, dag_run_id="manual__stale")
    assert store.require_task(task_id).status == "in_progress"


def test_every_task_of_the_pipeline_dag_fails_the_run_task_and_the_backup_fails_it_when_killed() -> None:
    from data_pipeline_airflow.dag_factory import build_pipeline_dag
    from data_pipeline_airflow.operators import PipelineTaskOperator

    dag = build_pipeline_dag("data_pipeline_lifecycle_probe")
    callbacks = {t.task_id: cb if isinstance(cb := t.on_failure_callback, list) else [cb] for t in dag.tasks}
    assert "finalize" in callbacks and all(cbs == [fail_pipeline_task] for cbs in callbacks.values()), callbacks
    assert isinstance(dag.get_task("backup_existing_files"), PipelineTaskOperator)


def test_a_configuration_error_in_prepare_is_not_retried(store: TaskStore) -> None:
    """What the user must fix fails ``prepare`` with AirflowFailException (no retry), naming the problem."""
    from airflow.sdk.exceptions import AirflowFailException

    from data_pipeline_airflow.dag_factory import run_prepare

    with pytest.raises(AirflowFailException, match="without task_id the run needs table_list"):
        run_prepare({"db_conn_id": "highway_demo", "execution_mode": "complete"}, dag_id="data_pipeline",
                    dag_run_id="manual__config", scheduled=False)
    with pytest.raises(AirflowFailException, match="not found"):
        run_prepare({"task_id": "task_20200101_000000"}, dag_id="data_pipeline", dag_run_id="manual__gone",
                    scheduled=False)
