"""Step rows of a task, mirrored into the task row (``step_status``, ``progress``, ``current_step``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from data_pipeline import STEPS
from data_pipeline.errors import InvalidInput
from data_pipeline.tasks.pool import PooledStore
from data_pipeline.tasks.records import StepRecord
from data_pipeline.tasks.status import StepStatus


class StepStore(PooledStore):
    def init_steps(self, task_id: str, selected: Iterable[str]) -> None:
        """Start a new execution's steps: the selected ones reset to pending, the selection recorded.

        A step the run does not select keeps the status, times and result of the run that last ran it;
        one that never ran, or was left pending or running by an earlier run, shows ``skipped``.
        """
        chosen = [step for step in STEPS if step in set(selected)]
        with self.connection() as conn:
            for step in STEPS:
                if step in chosen:
                    conn.execute(
                        "INSERT INTO data_pipeline_task_steps (task_id, step_name, status) VALUES (%s, %s, %s) "
                        "ON CONFLICT (task_id, step_name) DO UPDATE SET status = EXCLUDED.status, started_at = NULL, "
                        "completed_at = NULL, duration_seconds = NULL, error_message = NULL, progress_done = 0, "
                        "progress_total = 0, result = NULL, updated_at = now()",
                        (task_id, step, StepStatus.PENDING),
                    )
                else:
                    conn.execute(
                        "INSERT INTO data_pipeline_task_steps (task_id, step_name, status) VALUES (%s, %s, %s) "
                        "ON CONFLICT (task_id, step_name) DO UPDATE SET status = EXCLUDED.status, updated_at = now() "
                        "WHERE data_pipeline_task_steps.status IN (%s, %s)",
                        (task_id, step, StepStatus.SKIPPED, StepStatus.PENDING, StepStatus.RUNNING),
                    )
            conn.execute("UPDATE data_pipeline_tasks SET selected_steps = %s WHERE id = %s", (Jsonb(chosen), task_id))
            sync_task_steps(conn, task_id)

    def update_step(
        self,
        task_id: str,
        step: str,
        *,
        status: StepStatus | None = None,
        error_message: str | None = None,
        result: dict[str, Any] | None = None,
        progress_done: int | None = None,
        progress_total: int | None = None,
        try_number: int | None = None,
        dag_run_id: str | None = None,
        execution_id: str | None = None,
    ) -> None:
        """Record a step's state and mirror it into the task row (step_status, progress, current_step)."""
        if step not in STEPS:
            raise InvalidInput(f"unknown step {step!r}; steps are {', '.join(STEPS)}")
        sets: list[sql.Composable] = [sql.SQL("updated_at = now()")]
        params: list[Any] = []
        if status is not None:
            status = StepStatus(status)
            sets.append(sql.SQL("status = %s"))
            params.append(status)
            if status is StepStatus.RUNNING:
                sets.append(sql.SQL("started_at = now(), completed_at = NULL, duration_seconds = NULL, "
                                    "error_message = NULL"))
            elif status in (StepStatus.COMPLETED, StepStatus.FAILED):
                sets.append(sql.SQL(
                    "completed_at = now(), duration_seconds = EXTRACT(EPOCH FROM now() - COALESCE(started_at, now()))"
                ))
        for column, value in (("error_message", error_message), ("progress_done", progress_done),
                              ("progress_total", progress_total), ("try_number", try_number),
                              ("dag_run_id", dag_run_id), ("execution_id", execution_id)):
            if value is not None:
                sets.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
                params.append(value)
        if result is not None:
            sets.append(sql.SQL("result = %s"))
            params.append(Jsonb(result))
        with self.connection() as conn:
            conn.execute(
                "INSERT INTO data_pipeline_task_steps (task_id, step_name) VALUES (%s, %s) "
                "ON CONFLICT (task_id, step_name) DO NOTHING",
                (task_id, step),
            )
            conn.execute(
                sql.SQL("UPDATE data_pipeline_task_steps SET {} WHERE task_id = %s AND step_name = %s").format(
                    sql.SQL(", ").join(sets)
                ),
                [*params, task_id, step],
            )
            sync_task_steps(conn, task_id, current_step=step if status is StepStatus.RUNNING else None)

    def get_steps(self, task_id: str) -> list[StepRecord]:
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT step_name, s.status, s.started_at, s.completed_at, "
                "s.duration_seconds::float AS duration_seconds, s.error_message, execution_id, s.dag_run_id, "
                "try_number, s.result, progress_done, progress_total, s.updated_at, "
                "(t.selected_steps IS NULL AND s.status <> 'skipped' OR t.selected_steps ? s.step_name) "
                "AS selected FROM data_pipeline_task_steps s JOIN data_pipeline_tasks t ON t.id = s.task_id "
                "WHERE s.task_id = %s",
                (task_id,),
            ).fetchall()
        by_name = {r["step_name"]: StepRecord.model_validate(r) for r in rows}
        return [by_name.get(step) or StepRecord(step_name=step, status=StepStatus.PENDING) for step in STEPS]

    def selected_steps(self, task_id: str) -> list[str]:
        """The steps the task's latest run selected, in order."""
        return [s.step_name for s in self.get_steps(task_id) if s.selected]


def sync_task_steps(conn: psycopg.Connection[Any], task_id: str, current_step: str | None = None) -> None:
    """Derive the task's ``step_status`` and this run's ``progress`` (its selected steps only) from the step rows."""
    rows = conn.execute(
        "SELECT step_name, s.status, progress_done, progress_total, "
        "(t.selected_steps IS NULL AND s.status <> 'skipped' OR t.selected_steps ? s.step_name) AS selected "
        "FROM data_pipeline_task_steps s JOIN data_pipeline_tasks t ON t.id = s.task_id WHERE s.task_id = %s",
        (task_id,),
    ).fetchall()
    status_map = {r["step_name"]: r["status"] for r in rows}
    selected = [r for r in rows if r["selected"]]
    progress = 0
    if selected:
        parts = []
        for r in selected:
            if r["status"] == StepStatus.COMPLETED:
                parts.append(1.0)
            elif r["progress_total"]:  # all items done but not finished (a merge to come) is not 100 %
                parts.append(min(r["progress_done"] / r["progress_total"], 0.99))
            else:
                parts.append(0.0)
        progress = int(100 * sum(parts) / len(selected))
    extra = sql.SQL(", current_step = %s") if current_step else sql.SQL("")
    params: list[Any] = [Jsonb(status_map), progress]
    if current_step:
        params.append(current_step)
    conn.execute(
        sql.SQL(
            "UPDATE data_pipeline_tasks SET step_status = %s, progress = %s{} , updated_at = now() WHERE id = %s"
        ).format(extra),
        [*params, task_id],
    )
