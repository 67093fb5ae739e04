"""SQL of platform tasks and their lineage (which task reads or writes which table)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from psycopg import sql

from dolphin_publisher.models import TaskSpec
from dolphin_publisher.statements import Row, Statements

_TASK_COLUMNS = (
    "task_id", "name", "task_type", "command", "sql_text", "datasource", "datasource_type",
    "worker_group", "retries", "retry_delay_minutes", "timeout_minutes", "description",
)


def task_from_row(row: Mapping[str, Any]) -> TaskSpec:
    return TaskSpec(
        task_id=row["task_id"], name=row["name"], type=row["task_type"], command=row["command"],
        sql=row["sql_text"], datasource=row["datasource"], datasource_type=row["datasource_type"],
        worker_group=row["worker_group"], retries=row["retries"],
        retry_delay_minutes=row["retry_delay_minutes"], timeout_minutes=row["timeout_minutes"],
        description=row["description"],
    )


def _task_params(task: TaskSpec) -> tuple[Any, ...]:
    return (
        task.task_id, task.name, task.type.value, task.command, task.sql, task.datasource,
        task.datasource_type, task.worker_group, task.retries, task.retry_delay_minutes,
        task.timeout_minutes, task.description,
    )


class TaskStatements(Statements):
    """Platform tasks, their owners, and the lineage edges derived between them."""

    # ---- platform tasks -------------------------------------------------------------------------

    def upsert_tasks(self, tasks: Sequence[TaskSpec]) -> None:
        if not tasks:
            return
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in _TASK_COLUMNS)
        updates = sql.SQL(", ").join(
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in _TASK_COLUMNS[1:]
        )
        query = sql.SQL(
            "INSERT INTO platform_task ({columns}) VALUES ({values}) "
            "ON CONFLICT (task_id) DO UPDATE SET {updates}, updated_at = now()"
        ).format(columns=columns, values=sql.SQL(", ").join(sql.Placeholder() * len(_TASK_COLUMNS)),
                 updates=updates)
        with self.conn.cursor() as cur:
            cur.executemany(query, [_task_params(t) for t in tasks])

    def get_tasks(self, task_ids: Iterable[str]) -> dict[str, TaskSpec]:
        ids = list(task_ids)
        if not ids:
            return {}
        rows = self._all("SELECT * FROM platform_task WHERE task_id = ANY(%s)", (ids,))
        return {row["task_id"]: task_from_row(row) for row in rows}

    def task_exists(self, task_id: str) -> bool:
        return self._one("SELECT 1 AS x FROM platform_task WHERE task_id = %s", (task_id,)) is not None

    def owners(self, task_ids: Iterable[str]) -> dict[str, Row]:
        """task_id → {workflow_id, workflow_name} for the tasks that already belong to a workflow."""
        ids = list(task_ids)
        if not ids:
            return {}
        rows = self._all(
            "SELECT r.task_id, r.workflow_id, w.workflow_name FROM workflow_task_relation r "
            "JOIN data_workflow w ON w.id = r.workflow_id WHERE r.task_id = ANY(%s)",
            (ids,),
        )
        return {row["task_id"]: row for row in rows}

    def list_tasks(self, *, workflow_id: int | None, upstream_of: str | None, downstream_of: str | None,
                   limit: int, offset: int) -> tuple[list[Row], int]:
        """Tasks with owner and counts; ``upstream_of=X`` keeps tasks that have X upstream."""
        where: list[sql.Composable] = []
        params: list[Any] = []
        if workflow_id is not None:
            where.append(sql.SQL("r.workflow_id = %s"))
            params.append(workflow_id)
        if upstream_of is not None:
            where.append(sql.SQL(
                "t.task_id IN (SELECT downstream_task_id FROM task_dependency_view WHERE upstream_task_id = %s)"
            ))
            params.append(upstream_of)
        if downstream_of is not None:
            where.append(sql.SQL(
                "t.task_id IN (SELECT upstream_task_id FROM task_dependency_view WHERE downstream_task_id = %s)"
            ))
            params.append(downstream_of)
        clause = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL("")
        base = sql.SQL(
            "FROM platform_task t LEFT JOIN workflow_task_relation r ON r.task_id = t.task_id "
            "LEFT JOIN data_workflow w ON w.id = r.workflow_id"
        ) + clause
        total_row = self._one(sql.SQL("SELECT count(*) AS n ") + base, params)
        rows = self._all(
            sql.SQL(
                "SELECT t.task_id, t.name, t.task_type AS type, r.workflow_id, w.workflow_name, "
                "coalesce(r.upstream_task_count, 0) AS upstream_task_count, "
                "coalesce(r.downstream_task_count, 0) AS downstream_task_count, "
                "r.engine_task_code, r.workflow_inheritance_mode "
            ) + base + sql.SQL(" ORDER BY t.task_id LIMIT %s OFFSET %s"),
            [*params, limit, offset],
        )
        return rows, int(total_row["n"]) if total_row else 0

    # ---- lineage ---------------------------------------------------------------------------------

    def add_table_access(self, task_id: str, table_name: str, access: str) -> None:
        self.conn.execute(
            "INSERT INTO table_task_relation (task_id, table_name, access) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (task_id, table_name, access),
        )

    def add_lineage(self, source_table: str, target_table: str, task_id: str | None) -> None:
        self.conn.execute(
            "INSERT INTO data_lineage (source_table, target_table, task_id) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (source_table, target_table, task_id),
        )

    def lineage_edges(self, task_ids: Sequence[str] | None = None) -> list[Row]:
        """Writer → reader edges through a shared table, from both lineage tables."""
        query = """
            WITH access AS (
                SELECT task_id, table_name, access FROM table_task_relation
                UNION
                SELECT task_id, source_table, 'READ' FROM data_lineage WHERE task_id IS NOT NULL
                UNION
                SELECT task_id, target_table, 'WRITE' FROM data_lineage WHERE task_id IS NOT NULL
            )
            SELECT DISTINCT w.task_id AS upstream, r.task_id AS downstream, w.table_name AS via_table
            FROM access w JOIN access r ON r.table_name = w.table_name
            WHERE w.access = 'WRITE' AND r.access = 'READ' AND w.task_id <> r.task_id
        """
        if task_ids is None:
            return self._all(query + " ORDER BY 1, 2, 3")
        return self._all(
            "SELECT * FROM (" + query + ") e WHERE upstream = ANY(%s) AND downstream = ANY(%s) ORDER BY 1, 2, 3",
            (list(task_ids), list(task_ids)),
        )

    def replace_dependency_view(self, rows: Sequence[tuple[str, str, str, str]]) -> None:
        self.conn.execute("LOCK TABLE task_dependency_view IN EXCLUSIVE MODE")
        self.conn.execute("DELETE FROM task_dependency_view")
        if rows:
            with self.conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO task_dependency_view (upstream_task_id, downstream_task_id, source, via_table) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    rows,
                )

    def refresh_relation_counts(self) -> None:
        self.conn.execute(
            """
            UPDATE workflow_task_relation r SET
                upstream_task_count = coalesce(
                    (SELECT count(DISTINCT upstream_task_id) FROM task_dependency_view
                     WHERE downstream_task_id = r.task_id), 0),
                downstream_task_count = coalesce(
                    (SELECT count(DISTINCT downstream_task_id) FROM task_dependency_view
                     WHERE upstream_task_id = r.task_id), 0)
            """
        )

    def all_workflow_edges(self) -> list[Row]:
        return self._all(
            "SELECT e->>0 AS upstream, e->>1 AS downstream FROM data_workflow w, "
            "jsonb_array_elements(w.definition_json->'dependencies') e"
        )
