"""Airflow callbacks that end the pipeline task when its DAG run fails, instead of the hourly maintenance.

Airflow calls ``on_failure_callback`` only for a failure that is final: a try that will be retried
gets ``on_retry_callback`` instead (the task runner picks one by the retry decision; the DAG
processor, for tasks killed externally, by ``is_eligible_to_retry``). So a failure callback may
fail the pipeline task outright; the retry question arises only in ``on_kill``, which Airflow calls
on SIGTERM or a timeout without saying what follows.

Parsing a DAG imports this module: it touches no database until a callback runs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from data_pipeline import STEPS

log = logging.getLogger(__name__)


def fail_pipeline_task(context: Mapping[str, Any]) -> None:
    """``on_failure_callback`` of every task of a pipeline DAG: fail the run's task with the reason."""
    ti = context["ti"]
    exc = context.get("exception")
    detail = f": {_describe(exc)}" if exc is not None else ""
    reason = f"Airflow task {_label(ti)} failed in DAG run {ti.run_id} (try {ti.try_number}){detail}"
    _fail(ti, reason, params=context.get("params"))


def fail_killed_task(ti: Any, *, pipeline_task_id: str | None = None) -> None:
    """From ``on_kill``: fail the run's task unless Airflow will retry the killed task.

    A kill with tries left is left alone: the retry, its failure callback or ``finalize`` settle the
    task; failing it now would let another execution start beside the retry.
    """
    if ti.try_number <= ti.max_tries:
        log.info("%s killed on try %s of %s: a retry follows, the pipeline task stays claimed",
                 _label(ti), ti.try_number, ti.max_tries + 1)
        return
    reason = f"Airflow task {_label(ti)} was killed in DAG run {ti.run_id} (try {ti.try_number})"
    _fail(ti, reason, params={"task_id": pipeline_task_id})


def _fail(ti: Any, reason: str, *, params: Mapping[str, Any] | None) -> None:
    """Fail every task the run holds; a callback never raises (Airflow would only log it)."""
    from data_pipeline.tasks.store import default_store
    from data_pipeline.workflow.lifecycle import mark_run_failed

    try:
        store = default_store()
        task_ids = store.tasks_of_run(ti.dag_id, ti.run_id)
        named = (params or {}).get("task_id")
        if named and named not in task_ids:
            task_ids.append(named)  # claimed for this run but not linked to it yet
        step = ti.task_id if ti.task_id in STEPS else None
        for task_id in task_ids:
            if mark_run_failed(store, task_id, ti.run_id, reason, step=step):
                log.warning("pipeline task %s marked failed: %s", task_id, reason)
    except Exception:
        log.exception("could not mark the pipeline task of DAG run %s failed", ti.run_id)


def _label(ti: Any) -> str:
    map_index = getattr(ti, "map_index", -1)
    return f"{ti.task_id}[{map_index}]" if map_index is not None and map_index >= 0 else ti.task_id


def _describe(exc: Any) -> str:
    if isinstance(exc, BaseException):
        from data_pipeline.workflow.lifecycle import describe

        return describe(exc)
    return str(exc)
