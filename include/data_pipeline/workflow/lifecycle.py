"""How a run gives up its task when it fails, whatever fails: a step, a kill, ``finalize`` itself.

A run holds its task (``in_progress``, linked by ``dag_run_id``) from ``prepare`` to ``finalize``.
When the run cannot reach a normal ``finalize``, the task must not stay claimed until the hourly
maintenance notices: it is failed here, at once, with the reason. Knows nothing of Airflow: the
orchestrator's callbacks call these functions with plain values.
"""

from __future__ import annotations

from data_pipeline.errors import PipelineError
from data_pipeline.secrets_mask import mask
from data_pipeline.tasks.records import TaskRecord
from data_pipeline.tasks.store import TaskStore

MAX_REASON_CHARS = 2000


def describe(exc: BaseException) -> str:
    """An exception as one masked line for a task's error message."""
    text = exc.message if isinstance(exc, PipelineError) else f"{type(exc).__name__}: {exc}"
    return mask(text)


def held_by_run(task: TaskRecord, dag_run_id: str) -> bool:
    """Whether ``dag_run_id`` may end ``task``: it is linked to that run, or to no run yet."""
    return task.dag_run_id in (None, dag_run_id)


def mark_run_failed(store: TaskStore, task_id: str, dag_run_id: str | None, reason: str, *,
                    step: str | None = None) -> bool:
    """Fail the task's current execution with ``reason`` and release its claim; idempotent.

    Does nothing (returns False) when the task already finished, or when another run holds it now:
    a late callback of an old run must not end a newer execution. ``dag_run_id=None`` is the
    execution itself speaking (a CLI run), whichever run the task is linked to. ``step`` names the
    step the failure belongs to, when it does.
    """
    reason = mask(reason)[:MAX_REASON_CHARS]
    changed = store.fail_execution(task_id, reason=reason, dag_run_id=dag_run_id, step=step)
    if changed:
        store.add_log(task_id, "ERROR", f"execution marked failed: {reason}", step=step, module=__name__,
                      function="mark_run_failed",
                      extra={"dag_run_id": dag_run_id} if dag_run_id else None)
    return changed
