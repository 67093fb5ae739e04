"""Preparing a run: the task (created from parameters or existing), its directory, config and step rows.

``prepare_task`` is the first piece of every run; ``backup_before_run`` follows it in complete mode.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from data_pipeline.errors import InvalidInput
from data_pipeline.files.backup import backup_existing_files, recover_interrupted
from data_pipeline.files.table_list import parse_table_list
from data_pipeline.files.task_dir import TABLE_LIST_FILE, TASK_CONFIG_FILE, atomic_write_text, state_dir, task_path
from data_pipeline.schema.business_db import resolve, split_password
from data_pipeline.secrets_mask import mask
from data_pipeline.steps import registry
from data_pipeline.tasks.log import TaskLogger
from data_pipeline.tasks.parameters import ExecutionMode, TaskParameters
from data_pipeline.tasks.status import TaskStatus
from data_pipeline.tasks.store import CreatedBy, TaskStore, default_store
from data_pipeline.workflow import input_check

PENDING_CONFIG = "task_config.next.json"
BACKUP_SUMMARY = "backup_summary.json"


class PreparedTask(BaseModel):
    task_id: str
    task_dir: str
    execution_mode: ExecutionMode
    step_name: str | None = None
    steps: list[str]
    created: bool = False


def normalise_mode(mode: str, step_name: str | None,
                   single_step: int | None = None) -> tuple[ExecutionMode, str | None]:
    """``single`` is the old spelling of ``step``; a step number stands for its step."""
    if mode == "single":
        mode = "step"
    if mode == "step" and step_name is None and single_step is not None:
        step_name = registry.by_number(single_step).name
    if mode not in ("complete", "step"):
        raise InvalidInput(f"execution_mode must be complete or step, got {mode!r}")
    if mode == "step" and not registry.is_step(step_name):
        raise InvalidInput(f"step mode needs step_name, one of {', '.join(registry.step_names())}",
                           missing_params=["step_name"])
    if mode == "complete" and step_name is not None:
        raise InvalidInput("step_name is only allowed with execution_mode step")
    return mode, step_name  # type: ignore[return-value]


def create_task_from_parameters(store: TaskStore, raw: dict[str, Any], *, created_by: CreatedBy,
                                owner: str | None = None, task_id: str | None = None, task_name: str | None = None,
                                table_list_text: str | None = None, check_tables: bool = False) -> str:
    """Validate parameters, keep every secret out of them, check the database policy, create the task.

    The stored URI is rewritten without its password (user-info or ``password=``); the password goes to
    the task's secrets. A database the policy refuses fails here, before anything is created; so does a
    missing business context, and with ``check_tables`` a table the database lacks or a database that
    cannot be reached (``input_check``).
    """
    params = TaskParameters.model_validate(raw)
    require_business_context(params.business_context)
    password = None
    if params.db_connection:
        params.db_connection, password = split_password(params.db_connection)
    if params.table_list and table_list_text is None:
        table_list_text = "\n".join(params.table_list) + "\n"
    parsed = parse_table_list(table_list_text) if table_list_text is not None else None  # before anything exists
    db = resolve(db_conn_id=params.db_conn_id, db_connection=params.db_connection, password=password) \
        if (params.db_conn_id or params.db_connection) else None
    db_name = db.db_name if db is not None else None
    if check_tables and db is not None and parsed is not None and parsed.tables:
        input_check.check_tables(db, parsed.tables)
    task = store.create_task(
        parameters=params.public(), created_by=created_by, owner=owner, task_id=task_id, task_name=task_name,
        db_name=db_name or None, business_context=params.business_context or None,
        secrets={"db_password": password} if password else None,
    )
    path = task_path(task.id, create=True)
    store.update_task(task.id, output_directory=str(path))
    if table_list_text is not None:
        write_table_list(path, table_list_text)
    return task.id


def require_business_context(text: str | None) -> None:
    """A new task must say what the business is about: every prompt builds on it."""
    if not (text or "").strip():
        raise InvalidInput("business_context is required for a new task: describe in a sentence or two what the "
                           "business is about (the prompts use it for comments, themes and questions)",
                           missing_params=["business_context"])


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
    needing = registry.needs_table_list(steps)
    if needing and not (directory / TABLE_LIST_FILE).is_file():
        raise InvalidInput(f"task {task_id} has no {TABLE_LIST_FILE}; upload one before running {', '.join(needing)}",
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


