"""Running a task: prepare, back up, execute steps, finalize. The CLI, the DAG and the API call these.

A run is ``prepare`` → (complete mode) ``backup_before_run`` → one ``execute_step`` per selected
step → ``finalize``. Each function works on its own from the task id, so Airflow can run them as
separate tasks (possibly on different workers) and the CLI can run them in one process.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from data_pipeline import STEPS, config
from data_pipeline.errors import Conflict, InvalidInput, PipelineError, StepFailed, TaskRunning
from data_pipeline.files.backup import backup_existing_files, recover_interrupted
from data_pipeline.files.outputs import scan_outputs
from data_pipeline.files.table_list import decode_table_list, parse_table_list
from data_pipeline.files.task_dir import (
    STATE_DIR,
    TABLE_LIST_FILE,
    TASK_CONFIG_FILE,
    atomic_write_text,
    state_dir,
    task_path,
)
from data_pipeline.schema.business_db import split_password
from data_pipeline.secrets_mask import mask
from data_pipeline.steps.context import StepContext, StepResult
from data_pipeline.tasks.log import TaskLogger
from data_pipeline.tasks.parameters import ExecutionMode, TaskParameters
from data_pipeline.tasks.status import StepStatus, TaskStatus
from data_pipeline.tasks.store import CreatedBy, TaskStore, default_store
from data_pipeline.workflow.lifecycle import describe, held_by_run, mark_run_failed

STEP_FUNCTIONS: dict[str, str] = {
    "ddl_generation": "data_pipeline.steps.ddl:run",
    "qa_generation": "data_pipeline.steps.qa:run",
    "sql_validation": "data_pipeline.steps.validation:run",
    "training_load": "data_pipeline.steps.training_load:run",
}
PENDING_CONFIG = "task_config.next.json"
BACKUP_SUMMARY = "backup_summary.json"


def step_function(step: str) -> Callable[[StepContext], StepResult]:
    if step not in STEP_FUNCTIONS:
        raise InvalidInput(f"unknown step {step!r}; steps are {', '.join(STEPS)}")
    module, name = STEP_FUNCTIONS[step].split(":")
    return getattr(importlib.import_module(module), name)


class PreparedTask(BaseModel):
    task_id: str
    task_dir: str
    execution_mode: ExecutionMode
    step_name: str | None = None
    steps: list[str]
    created: bool = False


def normalise_mode(mode: str, step_name: str | None,
                   single_step: int | None = None) -> tuple[ExecutionMode, str | None]:
    from data_pipeline.cli import STEP_NUMBERS

    if mode == "single":
        mode = "step"
    if mode == "step" and step_name is None and single_step is not None:
        step_name = STEP_NUMBERS[single_step]
    if mode not in ("complete", "step"):
        raise InvalidInput(f"execution_mode must be complete or step, got {mode!r}")
    if mode == "step" and step_name not in STEPS:
        raise InvalidInput(f"step mode needs step_name, one of {', '.join(STEPS)}", missing_params=["step_name"])
    if mode == "complete" and step_name is not None:
        raise InvalidInput("step_name is only allowed with execution_mode step")
    return mode, step_name  # type: ignore[return-value]


def create_task_from_parameters(store: TaskStore, raw: dict[str, Any], *, created_by: CreatedBy,
                                task_id: str | None = None, task_name: str | None = None,
                                table_list_text: str | None = None) -> str:
    """Validate parameters, keep the password out of them, create the task and its directory."""
    params = TaskParameters.model_validate(raw)
    password = None
    if params.db_connection:
        params.db_connection, password = split_password(params.db_connection)
    if params.table_list and table_list_text is None:
        table_list_text = "\n".join(params.table_list) + "\n"
    if table_list_text is not None:
        parse_table_list(table_list_text)  # reject a bad list before anything is created
    from data_pipeline.schema.business_db import resolve

    db_name = resolve(db_conn_id=params.db_conn_id, db_connection=params.db_connection).db_name \
        if (params.db_conn_id or params.db_connection) else None
    task = store.create_task(
        parameters=params.public(), created_by=created_by, task_id=task_id, task_name=task_name,
        db_name=db_name or None, business_context=params.business_context or None,
        secrets={"db_password": password} if password else None,
    )
    path = task_path(task.id, create=True)
    store.update_task(task.id, output_directory=str(path))
    if table_list_text is not None:
        write_table_list(path, table_list_text)
    return task.id


def write_table_list(task_dir: Path, text: str) -> None:
    """Install a table list; an existing different one is never overwritten silently."""
    target = task_dir / TABLE_LIST_FILE
    if target.is_file():
        if target.read_text(encoding="utf-8", errors="replace") == text:
            return
        raise InvalidInput(f"{task_dir.name} already has a different {TABLE_LIST_FILE}; "
                           "replace it through the table-list API or use a new task")
    atomic_write_text(target, text)


def prepare_task(
    task_id: str | None = None,
    *,
    execution_mode: str = "complete",
    step_name: str | None = None,
    parameters: dict[str, Any] | None = None,
    created_by: CreatedBy = "airflow",
    dag_run_id: str | None = None,
    dag_id: str | None = None,
    store: TaskStore | None = None,
) -> PreparedTask:
    """Resolve or create the task, its directory and config; mark it running; link the DAG run."""
    store = store or default_store()
    mode, step_name = normalise_mode(execution_mode, step_name)
    created = False
    if task_id is None:
        task_id = create_task_from_parameters(store, parameters or {}, created_by=created_by)
        created = True
    task = store.require_task(task_id)
    params = TaskParameters.model_validate(task.parameters)
    steps = params.selected_steps(mode, step_name)
    directory = task_path(task_id, create=True)
    recover_interrupted(directory)
    recover_interrupted(directory, "restore")
    if "ddl_generation" in steps and not (directory / TABLE_LIST_FILE).is_file():
        raise InvalidInput(f"task {task_id} has no {TABLE_LIST_FILE}; upload one before running ddl_generation",
                           missing_params=["table_list"])
    cfg = {
        "task_id": task_id, "execution_mode": mode, "step_name": step_name, "steps": steps,
        "parameters": params.public(), "dag_run_id": dag_run_id, "prepared_at": datetime.now(UTC).isoformat(),
        "data_directory": str(directory),
    }
    text = mask(json.dumps(cfg, ensure_ascii=False, indent=2))
    if mode == "complete":
        # The backup that follows must move the previous run's config, not this one: park it.
        atomic_write_text(state_dir(directory) / PENDING_CONFIG, text)
        (state_dir(directory) / BACKUP_SUMMARY).unlink(missing_ok=True)
    else:
        atomic_write_text(directory / TASK_CONFIG_FILE, text)
    store.init_steps(task_id, steps)
    fields: dict[str, Any] = {"current_step": steps[0], "error_message": None, "error_step": None,
                              "completed_at": None, "directory_exists": True, "output_directory": str(directory)}
    if dag_run_id:
        fields["dag_run_id"] = dag_run_id
        fields["dag_id"] = dag_id
    if task.status != TaskStatus.IN_PROGRESS:
        fields.update(status=TaskStatus.IN_PROGRESS, started_at=datetime.now(UTC), progress=0)
    store.update_task(task_id, **fields)
    logger = TaskLogger(task_dir=directory if mode == "step" else None, task_id=task_id, store=store)
    logger.info(f"prepared {mode} run of {', '.join(steps)}" + (f" (DAG run {dag_run_id})" if dag_run_id else ""))
    logger.flush()
    return PreparedTask(task_id=task_id, task_dir=str(directory), execution_mode=mode, step_name=step_name,
                        steps=steps, created=created)


def backup_before_run(task_id: str, *, store: TaskStore | None = None) -> dict[str, Any]:
    """Complete runs only: move the previous run's files aside, then install this run's config."""
    store = store or default_store()
    directory = task_path(task_id, must_exist=True)
    result = backup_existing_files(directory, task_id=task_id)
    pending = state_dir(directory) / PENDING_CONFIG
    if pending.exists():
        pending.replace(directory / TASK_CONFIG_FILE)
    summary = result.to_dict()
    atomic_write_text(state_dir(directory) / BACKUP_SUMMARY, json.dumps(summary, ensure_ascii=False, indent=2))
    logger = TaskLogger(task_dir=directory, task_id=task_id, store=store)
    if result.backed_up:
        level = "WARNING" if result.failed_files else "INFO"
        logger.log(level, f"backed up {len(result.moved_files)} file(s) of the previous run into "
                          f"{result.backup_directory}" + (f"; {len(result.failed_files)} could not be moved: "
                          + ", ".join(f['file'] for f in result.failed_files) if result.failed_files else ""))
    else:
        logger.info("nothing to back up: the task directory holds no earlier outputs")
    logger.flush()
    return summary


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
    )


def execute_step(ctx: StepContext, step: str, function: Callable[[StepContext], StepResult] | None = None, *,
                 continuing: bool = False) -> StepResult:
    """Run one step with status, timing, result file and task-store mirroring; raise StepFailed on failure.

    ``continuing``: the step already runs (its batches did the work; this is the merge), so its start
    time and duration keep counting from the first batch.
    """
    fn = function or step_function(step)
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
    sctx.write_json(f"{step}_result.json", result.model_dump(mode="json"))
    if ctx.store and ctx.task_id:
        ctx.store.update_step(ctx.task_id, step, status=StepStatus(result.status), error_message=error,
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


def final_status(step_statuses: dict[str, str]) -> TaskStatus:
    selected = [v for v in step_statuses.values() if v != StepStatus.SKIPPED]
    if selected and all(v == StepStatus.COMPLETED for v in selected):
        return TaskStatus.COMPLETED
    if any(v == StepStatus.COMPLETED for v in selected):
        return TaskStatus.PARTIAL_COMPLETED
    return TaskStatus.FAILED


def finalize_task(task_id: str, *, store: TaskStore | None = None, dag_run_id: str | None = None) -> dict[str, Any]:
    """Register outputs with hashes, write ``task_result.json``, set the final status.

    A finalize that cannot finish (say the result cannot be written) fails the task with that
    reason, so its claim never outlives the run. ``dag_run_id``: the run finalizing; a task another
    run holds by now is left alone.
    """
    store = store or default_store()
    if dag_run_id is not None:
        task = store.require_task(task_id)
        if not held_by_run(task, dag_run_id):
            raise Conflict(f"task {task_id} is held by DAG run {task.dag_run_id}; run {dag_run_id} does not "
                           "finalize it", task_id=task_id, dag_run_id=task.dag_run_id)
    try:
        return _finalize(task_id, store)
    except Exception as exc:
        mark_run_failed(store, task_id, dag_run_id, f"finalize failed: {describe(exc)}")
        raise


def _finalize(task_id: str, store: TaskStore) -> dict[str, Any]:
    directory = task_path(task_id, must_exist=True)
    steps = store.get_steps(task_id)
    statuses = {s.step_name: s.status for s in steps}
    status = final_status(statuses)
    backup = None
    summary_path = directory / STATE_DIR / BACKUP_SUMMARY
    if summary_path.exists():
        backup = json.loads(summary_path.read_text(encoding="utf-8"))
    failed = next((s for s in steps if s.status == StepStatus.FAILED), None)
    not_run = [s.step_name for s in steps if s.status.is_unfinished()]
    result: dict[str, Any] = {
        "task_id": task_id,
        "status": status,
        "completed_at": datetime.now(UTC).isoformat(),
        "steps": {s.step_name: {"status": s.status, "duration_seconds": s.duration_seconds,
                                "error_message": s.error_message, "result": s.result} for s in steps},
        "not_run": not_run,
        "backup": backup,
    }
    atomic_write_text(directory / "task_result.json", mask(json.dumps(result, ensure_ascii=False, indent=2,
                                                                       default=str)))
    outputs = scan_outputs(directory)
    store.replace_outputs(task_id, outputs)
    result["outputs"] = [o.file_path for o in outputs]
    fields: dict[str, Any] = {"status": status, "completed_at": datetime.now(UTC), "result": result}
    if status == TaskStatus.COMPLETED:
        fields.update(progress=100, error_message=None, error_step=None)
    elif failed is not None:
        fields.update(error_message=failed.error_message, error_step=failed.step_name)
    elif not_run:
        fields.update(error_message=f"steps not run: {', '.join(not_run)}", error_step=not_run[0])
    store.update_task(task_id, **fields)
    logger = TaskLogger(task_dir=directory, task_id=task_id, store=store)
    logger.log("INFO" if status == TaskStatus.COMPLETED else "WARNING", f"task finished: {status}; "
               f"{len(outputs)} output files registered")
    logger.flush()
    return {"success": status == TaskStatus.COMPLETED, **result}


def run_from_cli(args: Any) -> dict[str, Any]:
    """``python -m data_pipeline run``: the whole schema workflow in one process."""
    from data_pipeline.cli import STEP_NUMBERS

    mode, step_name = normalise_mode(args.execution_mode, args.step_name,
                                     args.single_step if args.single_step in STEP_NUMBERS else None)
    raw: dict[str, Any] = {
        "db_conn_id": args.db_conn_id, "db_connection": args.db_connection,
        "business_context": args.business_context or "",
        "enable_sql_validation": not args.skip_validation, "enable_llm_repair": not args.disable_llm_repair,
        "modify_original_file": not args.no_modify_file, "enable_training_data_load": not args.skip_training_load,
        "backup_vector_tables": args.backup_vector_tables, "truncate_vector_tables": args.truncate_vector_tables,
    }
    if args.batch_size:
        raw["batch_size"] = args.batch_size
    table_text = None
    if args.table_list is not None:
        if not args.table_list.is_file():
            raise InvalidInput(f"table list not found: {args.table_list}")
        table_text = decode_table_list(args.table_list.read_bytes())
    if args.no_db_tracking:
        return _run_untracked(args, raw, mode, step_name, table_text)
    if args.output_dir is not None:
        import os

        os.environ["DATA_PIPELINE_DATA_DIR"] = str(args.output_dir.resolve())
    store = default_store()
    if args.task_id and store.get_task(args.task_id) is not None:
        task_id = args.task_id
        if table_text is not None:
            write_table_list(task_path(task_id, create=True), table_text)
    else:
        if not (raw["db_conn_id"] or raw["db_connection"]):
            raise InvalidInput("give --db-connection or --db-conn-id", missing_params=["db_connection"])
        task_id = create_task_from_parameters(store, raw, created_by="manual", task_id=args.task_id,
                                              table_list_text=table_text)
    prepared = prepare_task(task_id, execution_mode=mode, step_name=step_name, created_by="manual", store=store)
    if mode == "complete":
        backup_before_run(task_id, store=store)
    ctx = load_context(task_id, store=store, execution_id=f"{task_id}:cli:{int(time.time())}")
    for step in prepared.steps:
        try:
            execute_step(ctx, step)
        except StepFailed:
            break
    return finalize_task(task_id, store=store)


def _run_untracked(args: Any, raw: dict[str, Any], mode: ExecutionMode, step_name: str | None,
                   table_text: str | None) -> dict[str, Any]:
    """``--no-db-tracking``: outputs straight into --output-dir, no task store, no backup."""
    if args.output_dir is None:
        raise InvalidInput("--no-db-tracking needs --output-dir", missing_params=["output_dir"])
    directory = args.output_dir.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    password = None
    if raw.get("db_connection"):
        raw["db_connection"], password = split_password(raw["db_connection"])
    params = TaskParameters.model_validate(raw)
    steps = params.selected_steps(mode, step_name)
    if table_text is not None:
        write_table_list(directory, table_text)
    ctx = StepContext(task_dir=directory, params=params, log=TaskLogger(task_dir=directory, task_id=None, store=None),
                      execution_id=f"untracked:{int(time.time())}", db_password=password)
    results: dict[str, Any] = {}
    ok = True
    for step in steps:
        try:
            results[step] = execute_step(ctx, step).model_dump(mode="json", exclude={"errors"})
        except StepFailed as exc:
            results[step] = {"status": "failed", "error_message": exc.message}
            ok = False
            break
    statuses = {s: results.get(s, {}).get("status", "pending") for s in steps}
    return {"success": ok and all(v == StepStatus.COMPLETED for v in statuses.values()),
            "status": final_status(statuses), "output_directory": str(directory), "steps": results}


# -- the pieces an orchestrator (Airflow, DolphinScheduler through the CLI) runs as separate tasks ----------

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
        task_id = create_task_from_parameters(store, params, created_by="schedule" if scheduled else "airflow")
        claim_for_run(store, task_id, dag_run_id)
    prepared = prepare_task(task_id, execution_mode=mode, step_name=step_name, dag_run_id=dag_run_id,
                            dag_id=dag_id, store=store)
    if "ddl_generation" in prepared.steps:
        # Unknown tables and bad table lists are reported before any work (or backup) starts; the plan is
        # not written to the task log here, as the backup that follows would move that log aside.
        try:
            plan_step_batches(task_id, "ddl_generation", store=store, log_to_file=False)
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
    return next(s.status for s in store.get_steps(task_id) if s.step_name == step) != "skipped"


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
    ctx = load_context(task_id, store=store, step=step, log_to_file=log_to_file).for_step(step)
    module = importlib.import_module(STEP_FUNCTIONS[step].split(":")[0])
    try:
        return list(range(len(module.plan_batches(ctx))))
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
    module = importlib.import_module(STEP_FUNCTIONS[step].split(":")[0])
    ctx = load_context(task_id, store=store, step=step, try_number=try_number, dag_run_id=dag_run_id)
    sctx = ctx.for_step(step)
    store.update_step(task_id, step, status=StepStatus.RUNNING, try_number=try_number, dag_run_id=dag_run_id,
                      execution_id=ctx.execution_id)
    sctx.log.info(f"{step} batch {batch} started (try {try_number})")
    try:
        batch_result = module.run_batch(sctx, batch)
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
    if module.batches_complete(sctx):
        merged = execute_step(ctx, step, function=module.merge, continuing=True)
        out["merged"] = merged.model_dump(mode="json", exclude={"errors"})
    sctx.log.flush()
    return out
