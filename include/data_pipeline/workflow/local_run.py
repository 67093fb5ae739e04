"""``python -m data_pipeline run``: a whole run in one process, tracked in the task store or not."""

from __future__ import annotations

import time
from typing import Any

from data_pipeline import config
from data_pipeline.errors import InvalidInput, StepFailed
from data_pipeline.files.table_list import decode_table_list
from data_pipeline.files.task_dir import task_path
from data_pipeline.schema.business_db import split_password
from data_pipeline.steps import registry
from data_pipeline.steps.context import StepContext
from data_pipeline.tasks.log import TaskLogger
from data_pipeline.tasks.parameters import ExecutionMode, TaskParameters
from data_pipeline.tasks.store import default_store
from data_pipeline.workflow.execution import execute_step, load_context
from data_pipeline.workflow.finalize import final_status, finalize_task
from data_pipeline.workflow.preparation import (
    backup_before_run,
    create_task_from_parameters,
    normalise_mode,
    prepare_task,
    require_business_context,
    write_table_list,
)


def run_from_cli(args: Any) -> dict[str, Any]:
    """``python -m data_pipeline run``: the whole schema workflow in one process."""
    mode, step_name = normalise_mode(args.execution_mode, args.step_name,
                                     args.single_step if args.single_step in registry.step_numbers() else None)
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
        config.override(data_dir=args.output_dir)  # also seen by the processes this run starts
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
    require_business_context(params.business_context)
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
    return {"success": ok and all(v == "completed" for v in statuses.values()), "status": final_status(statuses),
            "output_directory": str(directory), "steps": results}


