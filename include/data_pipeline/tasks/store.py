"""The task store: tasks, their steps, logs and outputs in PostgreSQL.

All SQL is parameterised; the few composed identifiers (sortable and updatable columns) come from
fixed allow-lists and go through ``psycopg.sql``. One ``TaskStore`` holds a small connection pool,
so the API server, the CLI and Airflow tasks share the same code path.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, ConfigDict, Field

from data_pipeline import STEPS
from data_pipeline.errors import Conflict, InvalidInput, TaskNotFound, TaskRunning
from data_pipeline.tasks import migrations
from data_pipeline.tasks.ids import base_task_id, validate_task_id, with_random_suffix
from platform_db import platform_dsn

TaskStatus = Literal["pending", "in_progress", "partial_completed", "completed", "failed"]
StepStatus = Literal["pending", "running", "completed", "failed", "skipped"]
CreatedBy = Literal["api", "manual", "schedule", "airflow", "system"]

FINISHED_STATUSES: tuple[str, ...] = ("completed", "partial_completed", "failed")
_PREFIX_BY_CREATOR = {"api": "task", "manual": "manual", "airflow": "manual", "schedule": "sched", "system": "task"}

_UPDATABLE_COLUMNS = frozenset({
    "task_name", "status", "result", "error_message", "error_step", "progress", "current_step",
    "step_status", "started_at", "completed_at", "output_directory", "db_name", "business_context",
    "directory_exists", "dag_run_id", "dag_id", "parameters",
})
_JSON_COLUMNS = frozenset({"result", "step_status", "parameters"})


class TaskRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    task_name: str | None = None
    task_type: str
    status: TaskStatus
    parameters: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] | None = None
    error_message: str | None = None
    error_step: str | None = None
    progress: int = 0
    current_step: str | None = None
    step_status: dict[str, str] = Field(default_factory=dict)
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    updated_at: datetime | None = None
    created_by: str | None = None
    output_directory: str | None = None
    db_name: str | None = None
    business_context: str | None = None
    directory_exists: bool = True
    dag_run_id: str | None = None
    dag_id: str | None = None

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.completed_at or datetime.now(UTC)
        return round((end - self.started_at).total_seconds(), 3)


class StepRecord(BaseModel):
    step_name: str
    status: StepStatus
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_seconds: float | None = None
    error_message: str | None = None
    execution_id: str | None = None
    dag_run_id: str | None = None
    try_number: int = 0
    result: dict[str, Any] | None = None
    progress_done: int = 0
    progress_total: int = 0
    updated_at: datetime | None = None


class LogRecord(BaseModel):
    id: int
    task_id: str
    log_level: str
    message: str
    step_name: str | None = None
    module_name: str | None = None
    function_name: str | None = None
    timestamp: datetime
    extra_data: dict[str, Any] = Field(default_factory=dict)


class OutputRecord(BaseModel):
    file_type: str
    file_name: str
    file_path: str
    file_size: int = 0
    content_hash: str | None = None
    description: str | None = None
    is_primary: bool = False
    is_downloadable: bool = True
    modified_at: datetime | None = None


class TaskQuery(BaseModel):
    """Filters, paging and sorting of a task listing; every field is optional."""

    status: list[TaskStatus] | None = None
    task_type: str | None = None
    created_by: str | None = None
    db_name: str | None = None
    search: str | None = Field(default=None, max_length=200)
    created_after: datetime | None = None
    created_before: datetime | None = None
    directory_exists: bool | None = None
    sort_by: Literal[
        "created_at", "updated_at", "started_at", "completed_at", "status", "id", "task_name", "progress",
        "db_name",
    ] = "created_at"
    sort_order: Literal["asc", "desc"] = "desc"
    limit: int = Field(default=50, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=10_000_000)


class TaskPage(BaseModel):
    items: list[TaskRecord]
    total: int
    limit: int
    offset: int


class ClaimResult(BaseModel):
    task: TaskRecord
    running_count: int


_BRIEF_COLUMNS = sql.SQL(
    "id, task_name, task_type, status, error_message, error_step, progress, current_step, step_status, created_at, "
    "started_at, completed_at, updated_at, created_by, output_directory, db_name, business_context, "
    "directory_exists, dag_run_id, dag_id"
)
_TASK_COLUMNS = sql.SQL(
    "id, task_name, task_type, status, parameters, result, error_message, error_step, progress, current_step, "
    "step_status, created_at, started_at, completed_at, updated_at, created_by, output_directory, db_name, "
    "business_context, directory_exists, dag_run_id, dag_id"
)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class TaskStore:
    """Access to the task tables. Safe to share between threads."""

    def __init__(self, dsn: str | None = None, *, max_pool_size: int = 8) -> None:
        self._dsn = dsn
        self._max_pool_size = max_pool_size
        self._pool: ConnectionPool | None = None
        self._pool_lock = threading.Lock()

    # -- connections -------------------------------------------------------------------------

    @property
    def dsn(self) -> str:
        if self._dsn is None:
            self._dsn = platform_dsn()
        return self._dsn

    def _get_pool(self) -> ConnectionPool:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ConnectionPool(
                    self.dsn,
                    min_size=1,
                    max_size=self._max_pool_size,
                    kwargs={"row_factory": dict_row},
                    check=ConnectionPool.check_connection,
                    open=True,
                    name="data_pipeline_task_store",
                )
            return self._pool

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """A pooled connection inside a transaction (committed on success, rolled back on error)."""
        with self._get_pool().connection() as conn:
            yield conn

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    def migrate(self) -> list[int]:
        with self.connection() as conn:
            return migrations.migrate(conn)

    # -- tasks -------------------------------------------------------------------------------

    def create_task(
        self,
        *,
        parameters: dict[str, Any],
        task_type: str = "data_workflow",
        task_name: str | None = None,
        created_by: CreatedBy = "api",
        db_name: str | None = None,
        business_context: str | None = None,
        output_directory: str | None = None,
        task_id: str | None = None,
        secrets: dict[str, str] | None = None,
        now: datetime | None = None,
    ) -> TaskRecord:
        """Insert a task. Without ``task_id`` a fresh id is chosen; ids never collide.

        The id is the creation second; when another task already took it, a random suffix is added
        and the insert retried (``ON CONFLICT DO NOTHING``), so concurrent creators never clash.
        """
        if task_id is not None:
            validate_task_id(task_id)
        base = task_id or base_task_id(_PREFIX_BY_CREATOR[created_by], now)
        candidate = base
        for _attempt in range(50):
            with self.connection() as conn:
                row = conn.execute(
                    sql.SQL(
                        "INSERT INTO data_pipeline_tasks (id, task_name, task_type, status, parameters, "
                        "created_by, db_name, business_context, output_directory, step_status) "
                        "VALUES (%s, %s, %s, 'pending', %s, %s, %s, %s, %s, %s) "
                        "ON CONFLICT (id) DO NOTHING RETURNING {}"
                    ).format(_TASK_COLUMNS),
                    (
                        candidate, task_name, task_type, Jsonb(parameters), created_by, db_name,
                        business_context, output_directory, Jsonb(dict.fromkeys(STEPS, "pending")),
                    ),
                ).fetchone()
                if row is not None:
                    for name, value in (secrets or {}).items():
                        conn.execute(
                            "INSERT INTO data_pipeline_task_secrets (task_id, name, value) VALUES (%s, %s, %s)",
                            (candidate, name, value),
                        )
                    return TaskRecord.model_validate(row)
            if task_id is not None:
                raise Conflict(f"task {task_id} already exists", task_id=task_id)
            candidate = with_random_suffix(base)
        raise Conflict("could not allocate a unique task id after 50 attempts")

    def get_task(self, task_id: str) -> TaskRecord | None:
        with self.connection() as conn:
            row = conn.execute(
                sql.SQL("SELECT {} FROM data_pipeline_tasks WHERE id = %s").format(_TASK_COLUMNS), (task_id,)
            ).fetchone()
        return TaskRecord.model_validate(row) if row else None

    def require_task(self, task_id: str) -> TaskRecord:
        task = self.get_task(task_id)
        if task is None:
            raise TaskNotFound(f"task not found: {task_id}", task_id=task_id)
        return task

    def list_tasks(self, query: TaskQuery | None = None, *, brief: bool = False) -> TaskPage:
        """A page of tasks; ``brief`` leaves out ``parameters`` and ``result`` (listings do not show them)."""
        query = query or TaskQuery()
        where: list[sql.Composable] = []
        params: list[Any] = []
        if query.status:
            where.append(sql.SQL("status = ANY(%s)"))
            params.append(list(query.status))
        for column in ("task_type", "created_by", "db_name"):
            value = getattr(query, column)
            if value is not None:
                where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
                params.append(value)
        if query.directory_exists is not None:
            where.append(sql.SQL("directory_exists = %s"))
            params.append(query.directory_exists)
        if query.created_after is not None:
            where.append(sql.SQL("created_at >= %s"))
            params.append(query.created_after)
        if query.created_before is not None:
            where.append(sql.SQL("created_at < %s"))
            params.append(query.created_before)
        if query.search:
            pattern = f"%{_escape_like(query.search)}%"
            where.append(sql.SQL("(id ILIKE %s OR task_name ILIKE %s OR business_context ILIKE %s)"))
            params.extend([pattern, pattern, pattern])
        where_sql = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL("")
        direction = sql.SQL("DESC NULLS LAST" if query.sort_order == "desc" else "ASC NULLS FIRST")
        tiebreak = sql.SQL("DESC" if query.sort_order == "desc" else "ASC")
        order = sql.SQL(" ORDER BY {} {}, id {}").format(sql.Identifier(query.sort_by), direction, tiebreak)
        if query.sort_by == "id":
            order = sql.SQL(" ORDER BY id {}").format(tiebreak)
        only_status = not any(getattr(query, f) is not None for f in (
            "task_type", "created_by", "db_name", "search", "created_after", "created_before", "directory_exists"))
        with self.connection() as conn:
            rows = conn.execute(
                sql.SQL("SELECT {} FROM data_pipeline_tasks").format(_BRIEF_COLUMNS if brief else _TASK_COLUMNS)
                + where_sql + order + sql.SQL(" LIMIT %s OFFSET %s"),
                [*params, query.limit, query.offset],
            ).fetchall()
            if query.offset == 0 and len(rows) < query.limit:
                total = len(rows)  # the page holds everything: no second scan
            elif only_status:
                # Exact, and O(statuses) instead of O(rows): the counters are kept by a trigger.
                total = conn.execute(
                    "SELECT COALESCE(sum(n), 0)::bigint AS n FROM data_pipeline_task_counts"
                    + (" WHERE status = ANY(%s)" if query.status else ""),
                    [list(query.status)] if query.status else [],
                ).fetchone()["n"]
            else:
                total = conn.execute(
                    sql.SQL("SELECT count(*) AS n FROM data_pipeline_tasks") + where_sql, params
                ).fetchone()["n"]
        return TaskPage(
            items=[TaskRecord.model_validate(r) for r in rows], total=total, limit=query.limit, offset=query.offset
        )

    def active_tasks(self) -> list[TaskRecord]:
        with self.connection() as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT {} FROM data_pipeline_tasks WHERE status = 'in_progress' ORDER BY started_at NULLS LAST"
                ).format(_TASK_COLUMNS)
            ).fetchall()
        return [TaskRecord.model_validate(r) for r in rows]

    def update_task(self, task_id: str, **fields: Any) -> TaskRecord:
        """Set columns of a task (allow-listed) and ``updated_at``; raises if the task is missing."""
        unknown = set(fields) - _UPDATABLE_COLUMNS
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        assignments = [sql.SQL("updated_at = now()")]
        params: list[Any] = []
        for column, value in fields.items():
            assignments.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(Jsonb(value) if column in _JSON_COLUMNS and value is not None else value)
        with self.connection() as conn:
            row = conn.execute(
                sql.SQL("UPDATE data_pipeline_tasks SET {} WHERE id = %s RETURNING {}").format(
                    sql.SQL(", ").join(assignments), _TASK_COLUMNS
                ),
                [*params, task_id],
            ).fetchone()
        if row is None:
            raise TaskNotFound(f"task not found: {task_id}", task_id=task_id)
        return TaskRecord.model_validate(row)

    def claim_execution(self, task_id: str, *, max_concurrent: int, dag_run_id: str | None = None) -> ClaimResult:
        """Mark a task ``in_progress`` unless it already runs or too many tasks run.

        A transaction-scoped advisory lock serialises claimers, so of N concurrent requests for one
        task exactly one wins; the others get ``TaskRunning`` (or ``Conflict`` when the limit is hit).
        """
        with self.connection() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('data_pipeline_tasks:claim'))")
            row = conn.execute(
                "SELECT id, status FROM data_pipeline_tasks WHERE id = %s FOR UPDATE", (task_id,)
            ).fetchone()
            if row is None:
                raise TaskNotFound(f"task not found: {task_id}", task_id=task_id)
            if row["status"] == "in_progress":
                raise TaskRunning(
                    f"task {task_id} is already running", task_id=task_id, current_status=row["status"]
                )
            running = conn.execute(
                "SELECT count(*) AS n FROM data_pipeline_tasks WHERE status = 'in_progress'"
            ).fetchone()["n"]
            if running >= max_concurrent:
                raise Conflict(
                    f"{running} task(s) already running; the limit max_concurrent_tasks is {max_concurrent}",
                    running_tasks=running,
                    max_concurrent_tasks=max_concurrent,
                )
            updated = conn.execute(
                sql.SQL(
                    "UPDATE data_pipeline_tasks SET status = 'in_progress', started_at = now(), completed_at = NULL, "
                    "error_message = NULL, error_step = NULL, progress = 0, dag_run_id = %s, updated_at = now() "
                    "WHERE id = %s RETURNING {}"
                ).format(_TASK_COLUMNS),
                (dag_run_id, task_id),
            ).fetchone()
        return ClaimResult(task=TaskRecord.model_validate(updated), running_count=running + 1)

    def mark_directory_deleted(self, task_id: str) -> None:
        with self.connection() as conn:
            conn.execute(
                "UPDATE data_pipeline_tasks SET directory_exists = FALSE, updated_at = now() WHERE id = %s",
                (task_id,),
            )

    def delete_task_records(self, task_id: str) -> bool:
        """Delete a task and its step, log, output and secret rows in one transaction."""
        with self.connection() as conn:
            for table in ("data_pipeline_task_steps", "data_pipeline_task_logs", "data_pipeline_task_outputs",
                          "data_pipeline_task_secrets"):
                conn.execute(sql.SQL("DELETE FROM {} WHERE task_id = %s").format(sql.Identifier(table)), (task_id,))
            deleted = conn.execute("DELETE FROM data_pipeline_tasks WHERE id = %s", (task_id,)).rowcount
        return deleted > 0

    def expired_tasks(self, days: int, *, now: datetime | None = None) -> list[TaskRecord]:
        """Finished tasks created more than ``days`` days ago (retention candidates), oldest first."""
        if days < 0:
            raise InvalidInput("retention days must be >= 0")
        cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
        with self.connection() as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT {} FROM data_pipeline_tasks WHERE created_at < %s AND status = ANY(%s) "
                    "ORDER BY created_at"
                ).format(_TASK_COLUMNS),
                (cutoff, list(FINISHED_STATUSES)),
            ).fetchall()
        return [TaskRecord.model_validate(r) for r in rows]

    # -- secrets -----------------------------------------------------------------------------

    def get_secret(self, task_id: str, name: str) -> str | None:
        with self.connection() as conn:
            row = conn.execute(
                "SELECT value FROM data_pipeline_task_secrets WHERE task_id = %s AND name = %s", (task_id, name)
            ).fetchone()
        return row["value"] if row else None

    # -- steps -------------------------------------------------------------------------------

    def init_steps(self, task_id: str, selected: Iterable[str]) -> None:
        """Reset the step rows of a new execution: selected steps pending, the others skipped."""
        chosen = set(selected)
        with self.connection() as conn:
            for step in STEPS:
                status = "pending" if step in chosen else "skipped"
                conn.execute(
                    "INSERT INTO data_pipeline_task_steps (task_id, step_name, status) VALUES (%s, %s, %s) "
                    "ON CONFLICT (task_id, step_name) DO UPDATE SET status = EXCLUDED.status, started_at = NULL, "
                    "completed_at = NULL, duration_seconds = NULL, error_message = NULL, progress_done = 0, "
                    "progress_total = 0, result = CASE WHEN EXCLUDED.status = 'skipped' "
                    "THEN data_pipeline_task_steps.result ELSE NULL END, updated_at = now()",
                    (task_id, step, status),
                )
            self._sync_task_steps(conn, task_id)

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
            sets.append(sql.SQL("status = %s"))
            params.append(status)
            if status == "running":
                sets.append(sql.SQL("started_at = now(), completed_at = NULL, duration_seconds = NULL, "
                                    "error_message = NULL"))
            elif status in ("completed", "failed"):
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
            self._sync_task_steps(conn, task_id, current_step=step if status == "running" else None)

    @staticmethod
    def _sync_task_steps(conn: psycopg.Connection, task_id: str, current_step: str | None = None) -> None:
        """Derive the task's ``step_status`` and overall ``progress`` from its step rows."""
        rows = conn.execute(
            "SELECT step_name, status, progress_done, progress_total FROM data_pipeline_task_steps "
            "WHERE task_id = %s",
            (task_id,),
        ).fetchall()
        status_map = {r["step_name"]: r["status"] for r in rows}
        selected = [r for r in rows if r["status"] != "skipped"]
        progress = 0
        if selected:
            parts = []
            for r in selected:
                if r["status"] == "completed":
                    parts.append(1.0)
                elif r["progress_total"]:
                    parts.append(min(r["progress_done"] / r["progress_total"], 1.0))
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

    def get_steps(self, task_id: str) -> list[StepRecord]:
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT step_name, status, started_at, completed_at, duration_seconds::float AS duration_seconds, "
                "error_message, execution_id, dag_run_id, try_number, result, progress_done, progress_total, "
                "updated_at FROM data_pipeline_task_steps WHERE task_id = %s",
                (task_id,),
            ).fetchall()
        by_name = {r["step_name"]: StepRecord.model_validate(r) for r in rows}
        return [by_name.get(step) or StepRecord(step_name=step, status="pending") for step in STEPS]

    # -- logs --------------------------------------------------------------------------------

    def add_logs(self, task_id: str, entries: Sequence[dict[str, Any]]) -> None:
        """Append log rows; each entry has level, message and optionally step, module, function, extra."""
        if not entries:
            return
        with self.connection() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO data_pipeline_task_logs (task_id, log_level, message, step_name, module_name, "
                "function_name, timestamp, extra_data) VALUES (%s, %s, %s, %s, %s, %s, COALESCE(%s, now()), %s)",
                [
                    (task_id, e["level"], e["message"], e.get("step"), e.get("module"), e.get("function"),
                     e.get("timestamp"), Jsonb(e.get("extra") or {}))
                    for e in entries
                ],
            )

    def add_log(self, task_id: str, level: str, message: str, **context: Any) -> None:
        self.add_logs(task_id, [{"level": level, "message": message, **context}])

    def query_logs(
        self,
        task_id: str,
        *,
        level: Sequence[str] | None = None,
        step: str | None = None,
        search: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
        newest_first: bool = False,
    ) -> tuple[list[LogRecord], int]:
        where = [sql.SQL("task_id = %s")]
        params: list[Any] = [task_id]
        if level:
            where.append(sql.SQL("log_level = ANY(%s)"))
            params.append([lv.upper() for lv in level])
        if step:
            where.append(sql.SQL("step_name = %s"))
            params.append(step)
        if search:
            where.append(sql.SQL("message ILIKE %s"))
            params.append(f"%{_escape_like(search)}%")
        if since:
            where.append(sql.SQL("timestamp >= %s"))
            params.append(since)
        if until:
            where.append(sql.SQL("timestamp < %s"))
            params.append(until)
        where_sql = sql.SQL(" AND ").join(where)
        order = sql.SQL("id DESC" if newest_first else "id ASC")
        with self.connection() as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT id, task_id, log_level, message, step_name, module_name, function_name, timestamp, "
                    "extra_data FROM data_pipeline_task_logs WHERE {} ORDER BY {} LIMIT %s OFFSET %s"
                ).format(where_sql, order),
                [*params, limit, offset],
            ).fetchall()
            total = conn.execute(
                sql.SQL("SELECT count(*) AS n FROM data_pipeline_task_logs WHERE {}").format(where_sql), params
            ).fetchone()["n"]
        return [LogRecord.model_validate(r) for r in rows], total

    # -- outputs -----------------------------------------------------------------------------

    def replace_outputs(self, task_id: str, outputs: Sequence[OutputRecord]) -> None:
        """Make the registered outputs of a task exactly ``outputs`` (idempotent)."""
        with self.connection() as conn:
            conn.execute("DELETE FROM data_pipeline_task_outputs WHERE task_id = %s", (task_id,))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO data_pipeline_task_outputs (task_id, file_type, file_name, file_path, file_size, "
                    "content_hash, description, is_primary, is_downloadable, modified_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, COALESCE(%s, now()))",
                    [
                        (task_id, o.file_type, o.file_name, o.file_path, o.file_size, o.content_hash,
                         o.description, o.is_primary, o.is_downloadable, o.modified_at)
                        for o in outputs
                    ],
                )

    def list_outputs(self, task_id: str) -> list[OutputRecord]:
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT file_type, file_name, file_path, file_size, content_hash, description, is_primary, "
                "is_downloadable, modified_at FROM data_pipeline_task_outputs WHERE task_id = %s "
                "ORDER BY file_path",
                (task_id,),
            ).fetchall()
        return [OutputRecord.model_validate(r) for r in rows]


_default_store: TaskStore | None = None
_default_lock = threading.Lock()


def default_store() -> TaskStore:
    """The process-wide store on the platform DSN, migrated on first use."""
    global _default_store
    with _default_lock:
        if _default_store is None:
            store = TaskStore()
            store.migrate()
            _default_store = store
        return _default_store


def reset_default_store() -> None:
    """Forget the process-wide store (tests switch databases)."""
    global _default_store
    with _default_lock:
        if _default_store is not None:
            _default_store.close()
        _default_store = None
