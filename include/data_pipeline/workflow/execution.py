"""Executing a step: its context, status, timing, result file and task-store mirroring."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from data_pipeline.errors import PipelineError, StepFailed
from data_pipeline.files.task_dir import task_path
from data_pipeline.secrets_mask import mask
from data_pipeline.steps import registry
from data_pipeline.steps.context import StepContext, StepResult
from data_pipeline.tasks.log import TaskLogger
from data_pipeline.tasks.parameters import TaskParameters
from data_pipeline.tasks.status import StepStatus
from data_pipeline.tasks.store import TaskStore, default_store


def load_context(task_id: str, *, store: TaskStore | None = None, step: str | None = None, try_number: int = 1,
                 dag_run_id: str | None = None, execution_id: str | None = None,
                 log_to_file: bool = True) -> StepContext:
    """A step context for a tracked task: parameters from the store, password from its secrets."""
    store = store or default_store()
    task = store.require_task(task_id)
    params = TaskParameters.model_validate(task.parameters)
    directory = task_path(task_id, must_exist=True)
    logger = TaskLogger(task_dir=directory if log_to_file else None, task_id=task_id, store=store, step=step)
    return StepContext(
        task_dir=directory, params=params, log=logger,
        task_id=task_id, store=store, execution_id=execution_id or dag_run_id or f"{task_id}:{int(time.time())}",
        try_number=try_number, dag_run_id=dag_run_id or task.dag_run_id,
        db_password=store.get_secret(task_id, "db_password"),
        run_key=task.started_at.isoformat() if task.started_at else None,
    )


def execute_step(ctx: StepContext, step: str, function: Callable[[StepContext], StepResult] | None = None, *,
                 continuing: bool = False) -> StepResult:
    """Run one step with status, timing, result file and task-store mirroring; raise StepFailed on failure.

    ``continuing``: the step already runs (its batches did the work; this is the merge), so its start
    time and duration keep counting from the first batch.
    """
    fn = function or registry.get(step).load().run
    sctx = ctx.for_step(step)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    if ctx.store and ctx.task_id and not continuing:
        ctx.store.update_step(ctx.task_id, step, status=StepStatus.RUNNING, try_number=ctx.try_number,
                              dag_run_id=ctx.dag_run_id, execution_id=ctx.execution_id)
    sctx.log.info(f"step {step} started (try {ctx.try_number})")
    error: str | None = None
    try:
        result = fn(sctx)
    except PipelineError as exc:
        error = mask(exc.message)
        result = StepResult(step=step, status="failed", error_message=error)
    except Exception as exc:  # any failure becomes a failed step with its message
        error = mask(f"{type(exc).__name__}: {exc}")
        result = StepResult(step=step, status="failed", error_message=error)
    result.started_at = started
    result.completed_at = datetime.now(UTC)
    result.duration_seconds = round(time.perf_counter() - t0, 3)
    if result.status == "failed" and error is None:
        error = result.error_message or f"{step} failed"
    sctx.write_json(registry.get(step).result_file, result.model_dump(mode="json"))
    if ctx.store and ctx.task_id:
        ctx.store.update_step(ctx.task_id, step, status=result.status, error_message=error,
                              result=result.model_dump(mode="json", exclude={"errors"}))
        if error:
            ctx.store.update_task(ctx.task_id, error_message=error, error_step=step)
    if error:
        sctx.log.error(f"step {step} failed after {result.duration_seconds}s: {error}")
    else:
        sctx.log.info(f"step {step} completed in {result.duration_seconds}s: {result.items_completed}/"
                      f"{result.items_total} items")
    sctx.log.flush()
    if error:
        raise StepFailed(f"{step} failed: {error}", step=step)
    return result


