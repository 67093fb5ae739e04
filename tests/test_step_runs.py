"""A step the user asks for again runs again: resuming is for retries of the same run, not for a new run."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from data_pipeline import clock
from data_pipeline.tasks.store import TaskStore
from data_pipeline.workflow.pipeline import (
    backup_before_run,
    create_task_from_parameters,
    finalize_task,
    plan_step_batches,
    prepare_for_run,
    run_step_batch,
    run_step_for_run,
)


@pytest.fixture
def store(demo_store: TaskStore) -> TaskStore:
    return demo_store


def run_batched(store: TaskStore, task_id: str, step: str, run_id: str) -> None:
    """What the DAG does for a batched step: plan, then one call per batch (the last one merges)."""
    for batch in plan_step_batches(task_id, step, store=store):
        run_step_batch(task_id, step, batch, dag_run_id=run_id, store=store)


def test_a_step_run_after_a_complete_run_validates_afresh_and_writes_a_new_report(
        store: TaskStore, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task_id = create_task_from_parameters(store, {"db_conn_id": "highway_demo", "table_list": ["bss_company",
                                                  "bss_service_area"], "enable_training_data_load": False,
                                                  "business_context": "高速公路服务区"},
                                          created_by="api")
    prepare_for_run({"task_id": task_id}, dag_id="data_pipeline", dag_run_id="manual__complete", store=store)
    backup_before_run(task_id, store=store)
    run_batched(store, task_id, "ddl_generation", "manual__complete")
    run_step_for_run(task_id, "qa_generation", dag_run_id="manual__complete", store=store)
    run_batched(store, task_id, "sql_validation", "manual__complete")
    assert finalize_task(task_id, store=store, dag_run_id="manual__complete")["status"] == "completed"
    directory = data_dir / task_id
    first_reports = sorted(p.name for p in directory.glob("sql_validation_*_report.json"))
    assert len(first_reports) == 1

    later = clock.now() + timedelta(seconds=5)  # a new run in a later second: a new <ts>
    monkeypatch.setattr(clock, "now", lambda: later)
    prepare_for_run({"task_id": task_id, "execution_mode": "step", "step_name": "sql_validation"},
                    dag_id="data_pipeline", dag_run_id="manual__again", store=store)
    run_batched(store, task_id, "sql_validation", "manual__again")
    assert finalize_task(task_id, store=store, dag_run_id="manual__again")["status"] == "completed"

    reports = sorted(p.name for p in directory.glob("sql_validation_*_report.json"))
    assert reports != first_reports and len(reports) == 1, reports  # the new run's report replaced the old one
    log = (directory / "data_pipeline.log").read_text(encoding="utf-8")
    step_run = log[log.rindex("prepared step run of sql_validation"):]
    assert "resuming" not in step_run and "already have a verdict" not in step_run, step_run
    validated = store.get_steps(task_id)
    assert next(s for s in validated if s.step_name == "sql_validation").status == "completed"


def test_progress_and_current_step_belong_to_the_current_run(store: TaskStore) -> None:
    task_id = create_task_from_parameters(store, {"db_conn_id": "highway_demo", "table_list": ["bss_company"],
                                                  "business_context": "高速公路服务区"}, created_by="api")
    store.init_steps(task_id, ["sql_validation"])
    store.update_step(task_id, "sql_validation", status="completed")
    store.update_task(task_id, status="completed", current_step="sql_validation")
    assert store.require_task(task_id).progress == 100

    store.claim_execution(task_id, max_concurrent=1000)  # a new run, before its prepare
    claimed = store.require_task(task_id)
    assert (claimed.progress, claimed.current_step) == (0, None)

    store.init_steps(task_id, ["sql_validation"])
    store.update_step(task_id, "sql_validation", status="running", progress_done=10, progress_total=10)
    assert store.require_task(task_id).progress == 99  # every item has a verdict, the merge is still to come
    store.update_step(task_id, "sql_validation", status="completed")
    assert store.require_task(task_id).progress == 100
