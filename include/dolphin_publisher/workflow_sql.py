"""SQL of workflows, the tasks they own, and their versions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from dolphin_publisher.statements import Row, Statements


class WorkflowStatements(Statements):
    """Workflow rows, task ownership (relations) and the version history."""

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
