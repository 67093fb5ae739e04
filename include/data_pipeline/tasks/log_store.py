"""Log and output rows of a task."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from data_pipeline.tasks.pool import PooledStore
from data_pipeline.tasks.records import LogRecord, OutputRecord, escape_like


class LogStore(PooledStore):
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
            params.append(f"%{escape_like(search)}%")
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
