"""Requesting a run of a task, and changing a task's files only while no run can start.

``request_run`` is the whole of ``POST /tasks/{id}/execute``: check, claim the task, launch the run
on the host, roll the claim back if the launch fails. ``while_not_running`` holds the task's row
for the length of a change to its inputs (table list, uploads, a restore), so a claim made at the
same moment waits for the change and a running task is refused: the check and the claim cannot
interleave. ``while_no_task_runs`` does the same for a change every task depends on (restoring the
shared vector tables): it holds the claimers' lock, so no task starts until the change has ended.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from data_pipeline import config
from data_pipeline.errors import Conflict, InvalidInput, PipelineError, TaskRunning
from data_pipeline.files.task_dir import TABLE_LIST_FILE, task_path
from data_pipeline.steps import registry
from data_pipeline.tasks.claims import CLAIM_LOCK_SQL, lock_task_row
from data_pipeline.tasks.ids import validate_task_id
from data_pipeline.tasks.parameters import TaskParameters
from data_pipeline.tasks.status import TaskStatus
from data_pipeline.tasks.store import TaskRecord, TaskStore
from data_pipeline.workflow.input_check import check_task_tables
from data_pipeline.workflow.preparation import normalise_mode


@dataclass(frozen=True)
class Credentials:
    """The caller's own token, passed on so the host applies its permission checks and audit to runs too."""

    token: str | None = field(default=None, repr=False)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


class RunLauncher(Protocol):
    """Starts and inspects the pipeline's runs on the host (Airflow), as the caller."""

    dag_id: str

    def trigger(self, credentials: Credentials, task_id: str, execution_mode: str, step_name: str | None) -> str:
        """Start a DAG run whose conf holds only the task id and mode; return the run id."""
        ...

    def run_state(self, credentials: Credentials, task: TaskRecord) -> str | None:
        """State of the task's linked run (queued, running, success, failed) or None if there is none."""
        ...

    def waiting_reason(self, credentials: Credentials, task: TaskRecord) -> str | None:
        """Why the task's run is not working now (its DAG paused, the run queued, its next task waiting for a
        worker or pool slot), with what to do; None when it works or the host cannot tell (never raises)."""
        ...


@dataclass(frozen=True)
class RunRequested:
    task_id: str
    dag_id: str
    dag_run_id: str
    execution_mode: str
    step_name: str | None
    steps: list[str]
    status: str


def has_table_list(task_id: str) -> bool:
    try:
        return (task_path(task_id) / TABLE_LIST_FILE).is_file()
    except PipelineError:
        return False


def request_run(store: TaskStore, launcher: RunLauncher, credentials: Credentials, task_id: str, *,
                execution_mode: str = "complete", step_name: str | None = None, single_step: int | None = None,
                requested_by: str) -> RunRequested:
    """Claim the task, start its run, link the run; a launch that fails leaves the task as it was."""
    validate_task_id(task_id)
    task = store.require_task(task_id)
    mode, step = normalise_mode(execution_mode, step_name, single_step)
    steps = TaskParameters.model_validate(task.parameters).selected_steps(mode, step)
    if registry.needs_table_list(steps):
        if not has_table_list(task_id):
            raise InvalidInput(f"task {task_id} has no {TABLE_LIST_FILE}; upload one first",
                               missing_params=["table_list"])
        if task.status == TaskStatus.IN_PROGRESS:  # the claim says so too; no database check for a refusal
            raise TaskRunning(f"task {task_id} is already running", task_id=task_id, current_status=task.status)
        check_task_tables(store, task)  # unknown tables, an unreachable database: refused before the claim
    claim = store.claim_execution(task_id, max_concurrent=config.limits().max_concurrent_tasks)
    try:
        run_id = launcher.trigger(credentials, task_id, mode, step)
    except Exception as exc:
        _release_claim(store, task)
        if isinstance(exc, PipelineError):
            raise
        raise PipelineError(f"could not start a DAG run: {type(exc).__name__}: {exc}") from None
    store.update_task(task_id, dag_run_id=run_id, dag_id=launcher.dag_id)
    store.add_log(task_id, "INFO", f"{mode} run requested by {requested_by}" + (f" ({step})" if step else "")
                  + f"; DAG run {run_id}")
    return RunRequested(task_id=task_id, dag_id=launcher.dag_id, dag_run_id=run_id, execution_mode=mode,
                        step_name=step, steps=steps, status=claim.task.status)


def _release_claim(store: TaskStore, before: TaskRecord) -> None:
    """Put back what ``claim_execution`` changed, so the task can be run again at once."""
    store.update_task(before.id, status=before.status, started_at=before.started_at,
                      completed_at=before.completed_at, dag_run_id=before.dag_run_id,
                      error_message=before.error_message, error_step=before.error_step, progress=before.progress)


@contextmanager
def while_not_running(store: TaskStore, task_id: str, change: str) -> Iterator[TaskRecord]:
    """The task, its row locked (``lock_task_row``) until the block ends; ``Conflict`` if it runs."""
    validate_task_id(task_id)
    with store.connection() as conn:
        task = lock_task_row(conn, task_id)
        if task.status == TaskStatus.IN_PROGRESS:
            raise Conflict(f"task {task_id} is running; {change} when it has finished", current_status=task.status)
        yield task


@contextmanager
def while_no_task_runs(store: TaskStore, change: str) -> Iterator[None]:
    """Hold off every claim until the block ends; ``Conflict`` naming the running tasks if any task runs."""
    with store.connection() as conn:
        conn.execute(CLAIM_LOCK_SQL)
        rows = conn.execute("SELECT id FROM data_pipeline_tasks WHERE status = %s ORDER BY started_at NULLS LAST, id",
                            (TaskStatus.IN_PROGRESS,)).fetchall()
        if rows:
            running = [r["id"] for r in rows]
            raise Conflict(f"{len(running)} task(s) running; {change} when no task runs",
                           running_tasks=running[:20])
        yield
