"""Task listings: the filtered, sorted pages of the API, the running tasks, retention candidates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import sql

from data_pipeline.errors import InvalidInput
from data_pipeline.tasks.pool import PooledStore
from data_pipeline.tasks.records import BRIEF_COLUMNS, TASK_COLUMNS, TaskPage, TaskQuery, TaskRecord, escape_like
from data_pipeline.tasks.status import TaskStatus


class TaskListing(PooledStore):
    def list_tasks(self, query: TaskQuery | None = None, *, brief: bool = False) -> TaskPage:
        """A page of tasks; ``brief`` leaves out ``parameters`` and ``result`` (listings do not show them)."""
        query = query or TaskQuery()
        where: list[sql.Composable] = []
        params: list[Any] = []
        if query.status:
            where.append(sql.SQL("status = ANY(%s)"))
            params.append(list(query.status))
        for column in ("task_type", "created_by", "db_name", "dag_run_id"):
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
            pattern = f"%{escape_like(query.search)}%"
            where.append(sql.SQL("(id ILIKE %s OR task_name ILIKE %s OR business_context ILIKE %s)"))
            params.extend([pattern, pattern, pattern])
        where_sql = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL("")
        direction = sql.SQL("DESC NULLS LAST" if query.sort_order == "desc" else "ASC NULLS FIRST")
        tiebreak = sql.SQL("DESC" if query.sort_order == "desc" else "ASC")
        order = sql.SQL(" ORDER BY {} {}, id {}").format(sql.Identifier(query.sort_by), direction, tiebreak)
        if query.sort_by == "id":
            order = sql.SQL(" ORDER BY id {}").format(tiebreak)
        only_status = not any(getattr(query, f) is not None for f in (
            "task_type", "created_by", "db_name", "dag_run_id", "search", "created_after", "created_before",
            "directory_exists"))
        with self.connection() as conn:
            rows = conn.execute(
                sql.SQL("SELECT {} FROM data_pipeline_tasks").format(BRIEF_COLUMNS if brief else TASK_COLUMNS)
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
                    "SELECT {} FROM data_pipeline_tasks WHERE status = %s ORDER BY started_at NULLS LAST"
                ).format(TASK_COLUMNS),
                (TaskStatus.IN_PROGRESS,),
            ).fetchall()
        return [TaskRecord.model_validate(r) for r in rows]

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
                ).format(TASK_COLUMNS),
                (cutoff, sorted(TaskStatus.terminal())),
            ).fetchall()
        return [TaskRecord.model_validate(r) for r in rows]
