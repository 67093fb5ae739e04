"""SQL of what publishing keeps about DolphinScheduler: publish records, settings, cached instances."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from dolphin_publisher.statements import Row, Statements


class EngineStatements(Statements):
    """Publish records, the integration settings per environment, and the instance cache."""

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
