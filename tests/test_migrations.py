"""Migrations: idempotent, and an old database created by the original script is upgraded in place."""

from __future__ import annotations

import psycopg
import pytest

from data_pipeline.tasks import migrations

SCHEMA_SNAPSHOT = """
SELECT 'col' AS kind, table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
       || ' ' || coalesce(column_default, '') AS item
FROM information_schema.columns WHERE table_schema = 'public' AND table_name LIKE 'data_pipeline%%'
UNION ALL
SELECT 'idx', indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
  AND tablename LIKE 'data_pipeline%%'
UNION ALL
SELECT 'con', conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
  WHERE conrelid::regclass::text LIKE 'data_pipeline%%'
UNION ALL
SELECT 'fn', proname || ' ' || md5(prosrc) FROM pg_proc WHERE proname = 'cleanup_old_data_pipeline_tasks'
ORDER BY 1, 2
"""


def snapshot(uri: str) -> list[tuple[str, str]]:
    with psycopg.connect(uri) as conn:
        return conn.execute(SCHEMA_SNAPSHOT).fetchall()


def test_migrations_twice_change_nothing(fresh_db_uri: str) -> None:
    assert migrations.migrate(fresh_db_uri) == [1, 2, 3, 4, 5, 6, 7, 8]
    first = snapshot(fresh_db_uri)
    assert migrations.migrate(fresh_db_uri) == []
    assert snapshot(fresh_db_uri) == first
    columns = {item.split(" ")[0] for kind, item in first if kind == "col"}
    for column in ("directory_exists", "updated_at", "dag_run_id", "step_status", "task_name"):
        assert f"data_pipeline_tasks.{column}" in columns
    assert "data_pipeline_task_steps.progress_total" in columns


def test_concurrent_migrators_do_not_collide(fresh_db_uri: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: migrations.migrate(fresh_db_uri), range(6)))
    assert sorted(map(tuple, results)) == [(), (), (), (), (), (1, 2, 3, 4, 5, 6, 7, 8)]


OLD_SCRIPT = """
CREATE TABLE data_pipeline_tasks (
    id VARCHAR(32) PRIMARY KEY,
    task_type VARCHAR(50) NOT NULL DEFAULT 'complete_workflow',
    status VARCHAR(20) NOT NULL DEFAULT 'pending',
    parameters JSONB NOT NULL,
    result JSONB,
    error_message TEXT,
    error_step VARCHAR(100),
    progress INTEGER DEFAULT 0 CHECK (progress >= 0 AND progress <= 100),
    current_step VARCHAR(100),
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    started_at TIMESTAMP,
    completed_at TIMESTAMP,
    created_by VARCHAR(50) DEFAULT 'api',
    step_stats JSONB DEFAULT '{}',
    output_directory TEXT,
    db_name VARCHAR(100),
    business_context TEXT
);
CREATE TABLE data_pipeline_task_logs (
    id SERIAL PRIMARY KEY,
    task_id VARCHAR(32) REFERENCES data_pipeline_tasks(id) ON DELETE CASCADE,
    log_level VARCHAR(10) NOT NULL, message TEXT NOT NULL, step_name VARCHAR(100),
    module_name VARCHAR(100), function_name VARCHAR(100),
    timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP, extra_data JSONB DEFAULT '{}'
);
CREATE TABLE data_pipeline_task_outputs (
    id SERIAL PRIMARY KEY,
    task_id VARCHAR(32) REFERENCES data_pipeline_tasks(id) ON DELETE CASCADE,
    file_type VARCHAR(50) NOT NULL, file_name VARCHAR(255) NOT NULL, file_path TEXT NOT NULL,
    file_size BIGINT DEFAULT 0, content_hash VARCHAR(64), description TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, modified_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    is_primary BOOLEAN DEFAULT FALSE, is_downloadable BOOLEAN DEFAULT TRUE
);
INSERT INTO data_pipeline_tasks (id, status, parameters, created_at, db_name)
VALUES ('task_20250101_080000', 'completed', '{"db_name": "old"}', '2025-01-01 08:00:00', 'old'),
       ('task_20250102_080000', 'running', '{}', '2025-01-02 08:00:00', 'old');
INSERT INTO data_pipeline_task_logs (task_id, log_level, message) VALUES ('task_20250101_080000', 'INFO', 'kept');
INSERT INTO data_pipeline_task_outputs (task_id, file_type, file_name, file_path)
VALUES ('task_20250101_080000', 'ddl', 'a.ddl', 'a.ddl'), ('task_20250101_080000', 'ddl', 'a.ddl', 'a.ddl');
"""


def test_old_database_without_deletion_columns_is_upgraded(fresh_db_uri: str) -> None:
    with psycopg.connect(fresh_db_uri) as conn:
        conn.execute(OLD_SCRIPT)
    applied = migrations.migrate(fresh_db_uri)
    assert applied == [1, 2, 3, 4, 5, 6, 7, 8]
    with psycopg.connect(fresh_db_uri) as conn:
        rows = conn.execute(
            "SELECT id, status, directory_exists, updated_at, created_at::date::text "
            "FROM data_pipeline_tasks ORDER BY id"
        ).fetchall()
        assert rows == [
            ("task_20250101_080000", "completed", True, None, "2025-01-01"),
            ("task_20250102_080000", "in_progress", True, None, "2025-01-02"),
        ]
        assert conn.execute("SELECT message FROM data_pipeline_task_logs").fetchall() == [("kept",)]
        # the duplicate output registration was folded into one row
        assert conn.execute("SELECT count(*) FROM data_pipeline_task_outputs").fetchone() == (1,)
        types = dict(conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'data_pipeline_tasks' AND column_name IN ('created_at', 'updated_at')"
        ).fetchall())
        assert types == {"created_at": "timestamp with time zone", "updated_at": "timestamp with time zone"}
    assert migrations.migrate(fresh_db_uri) == []


def test_created_by_takes_user_names_and_old_rows_stay_valid(fresh_db_uri: str) -> None:
    with psycopg.connect(fresh_db_uri) as conn:
        conn.execute(OLD_SCRIPT)
        conn.execute("UPDATE data_pipeline_tasks SET created_by = 'manual' WHERE id = 'task_20250101_080000'")
    migrations.migrate(fresh_db_uri)
    with psycopg.connect(fresh_db_uri) as conn:
        assert conn.execute("SELECT created_by FROM data_pipeline_tasks ORDER BY id").fetchall() == [
            ("manual",), ("api",)]
        owner = "ü" * 256  # a user's name, however long Airflow allows it to be here
        conn.execute("INSERT INTO data_pipeline_tasks (id, parameters, created_by) VALUES (%s, '{}', %s)",
                     ("task_20250103_080000", owner))
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("INSERT INTO data_pipeline_tasks (id, parameters, created_by) VALUES (%s, '{}', ' ')",
                         ("task_20250104_080000",))


def test_two_components_migrating_a_fresh_database_at_once_both_succeed() -> None:
    """The maintenance DAG (task store) and the history-sync DAG (publisher) start together on a new store;
    both create the shared bookkeeping table, and the slower one failed on pg_type's unique index."""
    import os
    import secrets
    from concurrent.futures import ThreadPoolExecutor

    from platform_db import embedded
    from platform_db.migrate import Migration, apply_migrations

    for _ in range(6):
        uri = embedded.ensure_database(f"dp_mig_race_{os.getpid()}_{secrets.token_hex(4)}", extensions=())
        plans = [(f"component_{n}", [Migration(1, "one", f"CREATE TABLE IF NOT EXISTS t_{n} (x int)")])
                 for n in range(4)]
        with ThreadPoolExecutor(4) as pool:
            applied = list(pool.map(lambda plan, uri=uri: apply_migrations(uri, *plan), plans))
        assert applied == [[1]] * 4
