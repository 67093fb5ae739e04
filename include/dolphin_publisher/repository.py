"""All SQL of the publisher (psycopg 3, parameterised; identifiers only through ``psycopg.sql``).

Services open one connection per operation and wrap writes in a single transaction, so a rejected
definition or a failed publish never leaves half of its rows behind.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from dolphin_publisher.migrations import COMPONENT, MIGRATIONS
from dolphin_publisher.models import TaskSpec
from platform_db import apply_migrations, platform_dsn

Row = dict[str, Any]
_PUBLISH_LOCK_CLASS = zlib.crc32(b"dolphin_publisher.publish") & 0x7FFFFFFF


class Database:
    """Where the platform tables live; migrations are applied once per process and DSN."""

    _migrated: ClassVar[set[str]] = set()
    _migrate_lock = threading.Lock()

    def __init__(self, dsn: str | None = None) -> None:
        self.dsn = dsn or platform_dsn()

    def ensure_schema(self) -> None:
        with self._migrate_lock:
            if self.dsn in self._migrated:
                return
            apply_migrations(self.dsn, COMPONENT, MIGRATIONS)
            self._migrated.add(self.dsn)

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection[Row]]:
        self.ensure_schema()
        with psycopg.connect(self.dsn, row_factory=dict_row) as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[Repo]:
        """One transaction: everything inside commits together or not at all."""
        with self.connect() as conn, conn.transaction():
            yield Repo(conn)

    @contextmanager
    def publish_lock(self, workflow_id: int) -> Iterator[bool]:
        """A session advisory lock per workflow so two publishes of one workflow never interleave."""
        with self.connect() as conn:
            conn.autocommit = True
            key = (_PUBLISH_LOCK_CLASS << 32) | (workflow_id & 0xFFFFFFFF)  # one bigint key, any id size
            row = conn.execute("SELECT pg_try_advisory_lock(%s::bigint) AS ok", (key,)).fetchone()
            acquired = bool(row and row["ok"])
            try:
                yield acquired
            finally:
                if acquired:
                    conn.execute("SELECT pg_advisory_unlock(%s::bigint)", (key,))


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


class Repo:
    """SQL statements over one connection (usually inside ``Database.transaction``)."""

    def __init__(self, conn: psycopg.Connection[Row]) -> None:
        self.conn = conn

    def _all(self, query: str | sql.Composable, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Row]:
        return self.conn.execute(query, params).fetchall()  # type: ignore[arg-type]

    def _one(self, query: str | sql.Composable, params: Sequence[Any] | Mapping[str, Any] = ()) -> Row | None:
        return self.conn.execute(query, params).fetchone()  # type: ignore[arg-type]

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

    # ---- workflows -------------------------------------------------------------------------------

    def insert_workflow(self, name: str, description: str, created_by: str) -> int:
        row = self._one(
            "INSERT INTO data_workflow (workflow_name, description, created_by, updated_by) "
            "VALUES (%s, %s, %s, %s) RETURNING id",
            (name, description, created_by, created_by),
        )
        assert row is not None
        return int(row["id"])

    def get_workflow(self, workflow_id: int, *, for_update: bool = False) -> Row | None:
        query = "SELECT * FROM data_workflow WHERE id = %s" + (" FOR UPDATE" if for_update else "")
        return self._one(query, (workflow_id,))

    def get_workflow_by_name(self, name: str) -> Row | None:
        return self._one("SELECT * FROM data_workflow WHERE workflow_name = %s", (name,))

    def list_workflows(self, *, status: str | None, publish_status: str | None, search: str | None,
                       limit: int, offset: int) -> tuple[list[Row], int]:
        where: list[sql.Composable] = []
        params: list[Any] = []
        if status:
            where.append(sql.SQL("w.status = %s"))
            params.append(status)
        if publish_status:
            where.append(sql.SQL("w.publish_status = %s"))
            params.append(publish_status)
        if search:
            where.append(sql.SQL("w.workflow_name ILIKE %s"))
            params.append("%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        clause = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL("")
        total = self._one(sql.SQL("SELECT count(*) AS n FROM data_workflow w") + clause, params)
        rows = self._all(
            sql.SQL(
                "SELECT w.*, cv.version_no AS current_version, pv.version_no AS last_published_version, "
                "(SELECT count(*) FROM workflow_task_relation r WHERE r.workflow_id = w.id) AS task_count "
                "FROM data_workflow w "
                "LEFT JOIN workflow_version cv ON cv.id = w.current_version_id "
                "LEFT JOIN workflow_version pv ON pv.id = w.last_published_version_id"
            ) + clause + sql.SQL(" ORDER BY w.id LIMIT %s OFFSET %s"),
            [*params, limit, offset],
        )
        return rows, int(total["n"]) if total else 0

    def workflow_summary(self, workflow_id: int) -> Row | None:
        return self._one(
            "SELECT w.*, cv.version_no AS current_version, pv.version_no AS last_published_version, "
            "(SELECT count(*) FROM workflow_task_relation r WHERE r.workflow_id = w.id) AS task_count "
            "FROM data_workflow w "
            "LEFT JOIN workflow_version cv ON cv.id = w.current_version_id "
            "LEFT JOIN workflow_version pv ON pv.id = w.last_published_version_id WHERE w.id = %s",
            (workflow_id,),
        )

    def set_definition(self, workflow_id: int, *, name: str, description: str, definition: dict[str, Any],
                       version_id: int, entry: list[str], exit_: list[str], updated_by: str) -> None:
        self.conn.execute(
            "UPDATE data_workflow SET workflow_name = %s, description = %s, definition_json = %s, "
            "current_version_id = %s, entry_task_ids = %s, exit_task_ids = %s, updated_by = %s, "
            "updated_at = now() WHERE id = %s",
            (name, description, Jsonb(definition), version_id, Jsonb(entry), Jsonb(exit_), updated_by,
             workflow_id),
        )

    def update_workflow_fields(self, workflow_id: int, fields: Mapping[str, Any]) -> None:
        """Update the named columns (names are ours, never user input)."""
        if not fields:
            return
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder()) for name in fields
        )
        values = [Jsonb(v) if isinstance(v, dict | list) else v for v in fields.values()]
        self.conn.execute(
            sql.SQL("UPDATE data_workflow SET {}, updated_at = now() WHERE id = %s").format(assignments),
            [*values, workflow_id],
        )

    def delete_workflow(self, workflow_id: int) -> None:
        self.conn.execute("DELETE FROM data_workflow WHERE id = %s", (workflow_id,))

    def workflows_to_sync(self) -> list[Row]:
        return self._all(
            "SELECT * FROM data_workflow WHERE workflow_code IS NOT NULL "
            "AND (engine_release_state = 'ONLINE' OR publish_status = 'online') ORDER BY id"
        )

    # ---- relations -------------------------------------------------------------------------------

    def relations(self, workflow_id: int) -> list[Row]:
        return self._all(
            "SELECT * FROM workflow_task_relation WHERE workflow_id = %s ORDER BY task_id", (workflow_id,)
        )

    def sync_relations(self, workflow_id: int, members: Sequence[str], version_id: int,
                       modes: Mapping[str, str]) -> list[str]:
        """Make the workflow own exactly ``members``; kept tasks keep their engine task code.

        Returns the members that another workflow still owns (a concurrent assignment won).
        """
        self.conn.execute(
            "DELETE FROM workflow_task_relation WHERE workflow_id = %s AND NOT (task_id = ANY(%s))",
            (workflow_id, list(members)),
        )
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO workflow_task_relation (workflow_id, task_id, version_id, workflow_inheritance_mode) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (task_id) DO UPDATE SET version_id = EXCLUDED.version_id, "
                "workflow_inheritance_mode = coalesce(EXCLUDED.workflow_inheritance_mode, "
                "workflow_task_relation.workflow_inheritance_mode) "
                "WHERE workflow_task_relation.workflow_id = EXCLUDED.workflow_id",
                [(workflow_id, task_id, version_id, modes.get(task_id)) for task_id in members],
            )
        owned = {
            row["task_id"]
            for row in self._all("SELECT task_id FROM workflow_task_relation WHERE workflow_id = %s", (workflow_id,))
        }
        return [task_id for task_id in members if task_id not in owned]

    def release_tasks(self, task_ids: Sequence[str]) -> None:
        self.conn.execute("DELETE FROM workflow_task_relation WHERE task_id = ANY(%s)", (list(task_ids),))

    def set_engine_task_codes(self, workflow_id: int, codes: Mapping[str, int]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(
                "UPDATE workflow_task_relation SET engine_task_code = %s WHERE workflow_id = %s AND task_id = %s",
                [(code, workflow_id, task_id) for task_id, code in codes.items()],
            )

    # ---- versions --------------------------------------------------------------------------------

    def insert_version(self, workflow_id: int, snapshot: dict[str, Any], change_summary: dict[str, Any],
                       content_hash: str, trigger_source: str, created_by: str) -> Row:
        row = self._one(
            "INSERT INTO workflow_version (workflow_id, version_no, structure_snapshot, change_summary, "
            "content_hash, trigger_source, created_by) "
            "VALUES (%s, (SELECT coalesce(max(version_no), 0) + 1 FROM workflow_version WHERE workflow_id = %s), "
            "%s, %s, %s, %s, %s) RETURNING id, version_no",
            (workflow_id, workflow_id, Jsonb(snapshot), Jsonb(change_summary), content_hash, trigger_source,
             created_by),
        )
        assert row is not None
        return row

    def get_version(self, workflow_id: int, version_no: int) -> Row | None:
        return self._one(
            "SELECT * FROM workflow_version WHERE workflow_id = %s AND version_no = %s", (workflow_id, version_no)
        )

    def get_version_by_id(self, version_id: int) -> Row | None:
        return self._one("SELECT * FROM workflow_version WHERE id = %s", (version_id,))

    def list_versions(self, workflow_id: int) -> list[Row]:
        return self._all(
            "SELECT id, workflow_id, version_no, trigger_source, change_summary, created_by, created_at, "
            "content_hash, engine_version FROM workflow_version WHERE workflow_id = %s ORDER BY version_no DESC",
            (workflow_id,),
        )

    def set_engine_version(self, version_id: int, engine_version: int | None) -> None:
        self.conn.execute("UPDATE workflow_version SET engine_version = %s WHERE id = %s",
                          (engine_version, version_id))

    # ---- publish records -------------------------------------------------------------------------

    def insert_publish_record(self, record: Mapping[str, Any]) -> Row:
        columns = list(record)
        row = self._one(
            sql.SQL("INSERT INTO workflow_publish_record ({}) VALUES ({}) RETURNING *").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in columns),
                sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            ),
            list(record.values()),
        )
        assert row is not None
        return row

    def list_publish_records(self, workflow_id: int, limit: int = 50) -> list[Row]:
        return self._all(
            "SELECT * FROM workflow_publish_record WHERE workflow_id = %s ORDER BY id DESC LIMIT %s",
            (workflow_id, limit),
        )

    # ---- integration config ----------------------------------------------------------------------

    def get_integration_config(self, environment: str) -> Row | None:
        return self._one("SELECT * FROM workflow_integration_config WHERE environment = %s", (environment,))

    def upsert_integration_config(self, values: Mapping[str, Any]) -> None:
        columns = list(values)
        self.conn.execute(
            sql.SQL(
                "INSERT INTO workflow_integration_config ({cols}) VALUES ({vals}) "
                "ON CONFLICT (environment) DO UPDATE SET {updates}, updated_at = now()"
            ).format(
                cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
                vals=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
                updates=sql.SQL(", ").join(
                    sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c))
                    for c in columns if c != "environment"
                ),
            ),
            list(values.values()),
        )

    # ---- instance cache --------------------------------------------------------------------------

    def upsert_instances(self, workflow_id: int, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        with self.conn.cursor() as cur:
            cur.executemany(
                """
                INSERT INTO workflow_instance_cache (workflow_id, instance_id, engine_workflow_code, name, state,
                    command_type, start_time, end_time, duration, run_times, host, executor_name, started_by, raw,
                    synced_at)
                VALUES (%(workflow_id)s, %(instance_id)s, %(engine_workflow_code)s, %(name)s, %(state)s,
                    %(command_type)s, %(start_time)s, %(end_time)s, %(duration)s, %(run_times)s, %(host)s,
                    %(executor_name)s, %(started_by)s, %(raw)s, now())
                ON CONFLICT (workflow_id, instance_id) DO UPDATE SET
                    engine_workflow_code = EXCLUDED.engine_workflow_code, name = EXCLUDED.name,
                    state = EXCLUDED.state, command_type = EXCLUDED.command_type,
                    start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time,
                    duration = EXCLUDED.duration, run_times = EXCLUDED.run_times, host = EXCLUDED.host,
                    executor_name = EXCLUDED.executor_name,
                    started_by = coalesce(workflow_instance_cache.started_by, EXCLUDED.started_by),
                    raw = EXCLUDED.raw, synced_at = now()
                """,
                [{**row, "workflow_id": workflow_id, "raw": Jsonb(row.get("raw") or {})} for row in rows],
            )

    def trim_instances(self, workflow_id: int, keep: int) -> None:
        self.conn.execute(
            "DELETE FROM workflow_instance_cache WHERE workflow_id = %s AND instance_id NOT IN ("
            "SELECT instance_id FROM workflow_instance_cache WHERE workflow_id = %s "
            "ORDER BY instance_id DESC LIMIT %s)",
            (workflow_id, workflow_id, keep),
        )

    def list_instances(self, workflow_id: int, limit: int = 10) -> list[Row]:
        return self._all(
            "SELECT * FROM workflow_instance_cache WHERE workflow_id = %s ORDER BY instance_id DESC LIMIT %s",
            (workflow_id, limit),
        )
