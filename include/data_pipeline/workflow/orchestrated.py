"""The pieces an orchestrator runs as separate tasks: Airflow directly, DolphinScheduler through the CLI.

Each works on its own from the task id, so the pieces can run on different workers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from data_pipeline import config
from data_pipeline.errors import InvalidInput, PipelineError, StepFailed, TaskRunning
from data_pipeline.secrets_mask import mask
from data_pipeline.steps import registry
from data_pipeline.tasks.parameters import TaskParameters
from data_pipeline.tasks.status import StepStatus, TaskStatus
from data_pipeline.tasks.store import TaskStore, default_store
from data_pipeline.workflow.execution import execute_step, load_context
from data_pipeline.workflow.lifecycle import held_by_run
from data_pipeline.workflow.preparation import create_task_from_parameters, normalise_mode, prepare_task

SECRET_CONF_KEYS = ("db_connection", "password", "db_password", "api_key", "token")


def prepare_for_run(conf: dict[str, Any], *, dag_id: str, dag_run_id: str, scheduled: bool = False,
                    store: TaskStore | None = None) -> dict[str, Any]:
    """``prepare`` of a DAG run: the task from ``conf['task_id']``, or a new manual_/sched_ task.

    Run conf must not carry secrets (it is stored and shown by Airflow): a database URI is refused,
    the business database is named by a connection id.
    """
    store = store or default_store()
    leaked = [k for k in SECRET_CONF_KEYS if conf.get(k)]
    if leaked:
        raise InvalidInput(f"run conf must not contain {', '.join(leaked)}: Airflow stores and shows run conf; "
                           "name the business database with db_conn_id (an Airflow connection) instead")
    mode, step_name = normalise_mode(conf.get("execution_mode") or "complete", conf.get("step_name") or None)
    task_id = conf.get("task_id") or None
    if task_id is not None:
        claim_for_run(store, task_id, dag_run_id)
    else:
        params = {k: v for k, v in conf.items() if k in TaskParameters.model_fields and v is not None}
        if not params.get("db_conn_id"):
            raise InvalidInput("without task_id the run needs db_conn_id (the business database connection)",
                               missing_params=["db_conn_id"])
        if not params.get("table_list"):
            raise InvalidInput("without task_id the run needs table_list (the tables to process)",
                               missing_params=["table_list"])
        if not str(params.get("business_context") or "").strip():
            raise InvalidInput("without task_id the run needs business_context (what the business is about, "
                               "in a sentence or two: the prompts use it)", missing_params=["business_context"])
        task_id = create_task_from_parameters(store, params, created_by="schedule" if scheduled else "airflow")
        claim_for_run(store, task_id, dag_run_id)
    prepared = prepare_task(task_id, execution_mode=mode, step_name=step_name, dag_run_id=dag_run_id,
                            dag_id=dag_id, store=store)
    # A batched step that reads the table list plans now: unknown tables and bad table lists are reported
    # before any work (or backup) starts. The plan is not written to the task log here, as the backup that
    # follows would move that log aside.
    for step in registry.needs_table_list(prepared.steps):
        if registry.get(step).batched:
            try:
                plan_step_batches(task_id, step, store=store, log_to_file=False)
            except PipelineError:
                store.update_task(task_id, status=TaskStatus.FAILED, completed_at=datetime.now(UTC))
                raise
    return prepared.model_dump()


def claim_for_run(store: TaskStore, task_id: str, dag_run_id: str) -> None:
    """One execution per task, whoever started the run (task API, Airflow UI or REST API, a schedule).

    A run started by the task API finds the task already claimed for it (no run linked yet, or this
    one); a run started elsewhere claims it here, under the same lock and the same concurrency limit.
    """
    task = store.require_task(task_id)
    if task.status == TaskStatus.IN_PROGRESS:
        if not held_by_run(task, dag_run_id):
            raise TaskRunning(f"task {task_id} is already running in DAG run {task.dag_run_id}; "
                              "wait for it to finish (or let the maintenance DAG clear it if that run is gone)",
                              task_id=task_id, current_status=task.status, dag_run_id=task.dag_run_id)
        return
    store.claim_execution(task_id, max_concurrent=config.limits().max_concurrent_tasks, dag_run_id=dag_run_id)


def is_selected(task_id: str, step: str, *, store: TaskStore | None = None) -> bool:
    store = store or default_store()
    return next(s.selected for s in store.get_steps(task_id) if s.step_name == step)


def run_step_for_run(task_id: str, step: str, *, try_number: int = 1, dag_run_id: str | None = None,
                     store: TaskStore | None = None) -> dict[str, Any] | None:
    """One whole step of a run; None when the run did not select it (the orchestrator skips the task)."""
    store = store or default_store()
    if not is_selected(task_id, step, store=store):
        return None
    ctx = load_context(task_id, store=store, step=step, try_number=try_number, dag_run_id=dag_run_id)
    return execute_step(ctx, step).model_dump(mode="json", exclude={"errors"})


def plan_step_batches(task_id: str, step: str, *, store: TaskStore | None = None,
                      log_to_file: bool = True) -> list[int]:
    """Batch indexes of a batched step (empty when the step is not selected); a bad plan fails the step."""
    store = store or default_store()
    if not is_selected(task_id, step, store=store):
        return []
    implementation = registry.get(step).load_batched()
    ctx = load_context(task_id, store=store, step=step, log_to_file=log_to_file).for_step(step)
    try:
        return list(range(len(implementation.plan_batches(ctx))))
    except Exception as exc:
        message = mask(exc.message if isinstance(exc, PipelineError) else f"{type(exc).__name__}: {exc}")
        store.update_step(task_id, step, status=StepStatus.FAILED, error_message=message)
        store.update_task(task_id, error_message=message, error_step=step)
        ctx.log.error(f"{step} cannot start: {message}")
        ctx.log.flush()
        raise


def run_step_batch(task_id: str, step: str, batch: int, *, try_number: int = 1, dag_run_id: str | None = None,
                   store: TaskStore | None = None) -> dict[str, Any] | None:
    """One batch of a batched step, on any worker; the batch that completes the set also merges.

    Batches share per-item state in the task directory; ``merge`` is idempotent, so two batches
    finishing at once both merging is harmless.
    """
    store = store or default_store()
    if not is_selected(task_id, step, store=store):
        return None
    implementation = registry.get(step).load_batched()
    ctx = load_context(task_id, store=store, step=step, try_number=try_number, dag_run_id=dag_run_id)
    sctx = ctx.for_step(step)
    store.update_step(task_id, step, status=StepStatus.RUNNING, try_number=try_number, dag_run_id=dag_run_id,
                      execution_id=ctx.execution_id)
    sctx.log.info(f"{step} batch {batch} started (try {try_number})")
    try:
        batch_result = implementation.run_batch(sctx, batch)
    except Exception as exc:
        message = mask(exc.message if isinstance(exc, PipelineError) else f"{type(exc).__name__}: {exc}")
        store.update_step(task_id, step, status=StepStatus.FAILED, error_message=f"batch {batch}: {message}")
        store.update_task(task_id, error_message=message, error_step=step)
        sctx.log.error(f"batch {batch} of {step} failed: {message}")
        sctx.log.flush()
        raise StepFailed(f"{step} batch {batch} failed: {message}", step=step) from None
    out = batch_result.model_dump(mode="json", exclude={"errors"})
    if batch_result.status == "failed":
        store.update_step(task_id, step, status=StepStatus.FAILED, error_message=batch_result.error_message)
        raise StepFailed(f"{step} batch {batch} failed: {batch_result.error_message}", step=step)
    if implementation.batches_complete(sctx):
        merged = execute_step(ctx, step, function=implementation.merge, continuing=True)
        out["merged"] = merged.model_dump(mode="json", exclude={"errors"})
    sctx.log.flush()
    return out
