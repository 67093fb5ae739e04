"""Task-store schema as versioned migrations.

Version 1 is the original design's ``init_tables.sql`` (so databases created by it are recognised);
later versions upgrade in place: deletion columns, the steps table, timestamptz, constraints, indexes.
Every statement is re-runnable.
"""

from __future__ import annotations

import psycopg

from platform_db import Migration, apply_migrations

COMPONENT = "data_pipeline"

_V1_ORIGINAL = """
CREATE TABLE IF NOT EXISTS data_pipeline_tasks (
    id VARCHAR(32) PRIMARY KEY,
    task_type VARCHAR(50) NOT NULL DEFAULT 'data_workflow',
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
CREATE TABLE IF NOT EXISTS data_pipeline_task_logs (
    id SERIAL PRIMARY KEY,
    task_id VARCHAR(32) REFERENCES data_pipeline_tasks(id) ON DELETE CASCADE,
    log_level VARCHAR(10) NOT NULL,
    message TEXT NOT NULL,
    step_name VARCHAR(100),
    module_name VARCHAR(100),
    function_name VARCHAR(100),
    timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    extra_data JSONB DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS data_pipeline_task_outputs (
    id SERIAL PRIMARY KEY,
    task_id VARCHAR(32) REFERENCES data_pipeline_tasks(id) ON DELETE CASCADE,
    file_type VARCHAR(50) NOT NULL,
    file_name VARCHAR(255) NOT NULL,
    file_path TEXT NOT NULL,
    file_size BIGINT DEFAULT 0,
    content_hash VARCHAR(64),
    description TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    modified_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    is_primary BOOLEAN DEFAULT FALSE,
    is_downloadable BOOLEAN DEFAULT TRUE
);
"""

_V2_UPGRADE = """
ALTER TABLE data_pipeline_tasks
    ADD COLUMN IF NOT EXISTS task_name VARCHAR(200),
    ADD COLUMN IF NOT EXISTS error_step VARCHAR(100),
    ADD COLUMN IF NOT EXISTS progress INTEGER DEFAULT 0,
    ADD COLUMN IF NOT EXISTS current_step VARCHAR(100),
    ADD COLUMN IF NOT EXISTS step_status JSONB NOT NULL DEFAULT '{}',
    ADD COLUMN IF NOT EXISTS directory_exists BOOLEAN NOT NULL DEFAULT TRUE,
    ADD COLUMN IF NOT EXISTS updated_at TIMESTAMP NULL,
    ADD COLUMN IF NOT EXISTS dag_run_id VARCHAR(250);

-- Every timestamp becomes timestamptz: the API speaks ISO 8601 with offsets.
DO $$
DECLARE c record;
BEGIN
    FOR c IN
        SELECT table_name, column_name FROM information_schema.columns
        WHERE table_schema = current_schema()
          AND table_name IN ('data_pipeline_tasks', 'data_pipeline_task_logs', 'data_pipeline_task_outputs')
          AND data_type = 'timestamp without time zone'
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I TYPE timestamptz', c.table_name, c.column_name);
    END LOOP;
END $$;

UPDATE data_pipeline_tasks SET status = 'in_progress' WHERE status = 'running';
UPDATE data_pipeline_tasks SET created_at = now() WHERE created_at IS NULL;
ALTER TABLE data_pipeline_tasks ALTER COLUMN created_at SET NOT NULL;
ALTER TABLE data_pipeline_tasks ALTER COLUMN created_at SET DEFAULT now();
UPDATE data_pipeline_tasks SET progress = 0 WHERE progress IS NULL;
ALTER TABLE data_pipeline_tasks ALTER COLUMN progress SET NOT NULL;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'data_pipeline_tasks_status_check') THEN
        ALTER TABLE data_pipeline_tasks ADD CONSTRAINT data_pipeline_tasks_status_check
            CHECK (status IN ('pending', 'in_progress', 'partial_completed', 'completed', 'failed'));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'data_pipeline_tasks_progress_range') THEN
        ALTER TABLE data_pipeline_tasks ADD CONSTRAINT data_pipeline_tasks_progress_range
            CHECK (progress BETWEEN 0 AND 100);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'data_pipeline_tasks_created_by_check') THEN
        ALTER TABLE data_pipeline_tasks ADD CONSTRAINT data_pipeline_tasks_created_by_check
            CHECK (created_by IN ('api', 'manual', 'schedule', 'airflow', 'system'));
    END IF;
END $$;

CREATE TABLE IF NOT EXISTS data_pipeline_task_steps (
    id BIGSERIAL PRIMARY KEY,
    task_id VARCHAR(32) NOT NULL REFERENCES data_pipeline_tasks(id) ON DELETE CASCADE,
    step_name VARCHAR(50) NOT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'skipped')),
    started_at timestamptz,
    completed_at timestamptz,
    duration_seconds NUMERIC(12, 3),
    error_message TEXT,
    execution_id VARCHAR(120),
    dag_run_id VARCHAR(250),
    try_number INTEGER NOT NULL DEFAULT 0,
    result JSONB,
    progress_done INTEGER NOT NULL DEFAULT 0,
    progress_total INTEGER NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (task_id, step_name)
);

CREATE TABLE IF NOT EXISTS data_pipeline_task_secrets (
    task_id VARCHAR(32) NOT NULL REFERENCES data_pipeline_tasks(id) ON DELETE CASCADE,
    name VARCHAR(50) NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (task_id, name)
);

ALTER TABLE data_pipeline_task_logs ALTER COLUMN timestamp SET DEFAULT now();
ALTER TABLE data_pipeline_task_logs ALTER COLUMN extra_data SET DEFAULT '{}';
ALTER TABLE data_pipeline_task_outputs ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE data_pipeline_task_outputs ALTER COLUMN modified_at SET DEFAULT now();

-- One output row per task and path (older scripts could register a file twice).
DELETE FROM data_pipeline_task_outputs a
    USING data_pipeline_task_outputs b
    WHERE a.task_id = b.task_id AND a.file_path = b.file_path AND a.id < b.id;
CREATE UNIQUE INDEX IF NOT EXISTS uq_outputs_task_path ON data_pipeline_task_outputs (task_id, file_path);

CREATE INDEX IF NOT EXISTS idx_tasks_status ON data_pipeline_tasks (status);
CREATE INDEX IF NOT EXISTS idx_tasks_created_at ON data_pipeline_tasks (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS idx_tasks_status_created ON data_pipeline_tasks (status, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_tasks_db_name ON data_pipeline_tasks (db_name);
CREATE INDEX IF NOT EXISTS idx_tasks_created_by ON data_pipeline_tasks (created_by);
CREATE INDEX IF NOT EXISTS idx_tasks_task_type ON data_pipeline_tasks (task_type);
CREATE INDEX IF NOT EXISTS idx_tasks_updated_at ON data_pipeline_tasks (updated_at DESC);
CREATE INDEX IF NOT EXISTS idx_tasks_started_at ON data_pipeline_tasks (started_at DESC);
CREATE INDEX IF NOT EXISTS idx_tasks_completed_at ON data_pipeline_tasks (completed_at DESC);
CREATE INDEX IF NOT EXISTS idx_tasks_directory_exists ON data_pipeline_tasks (directory_exists);
CREATE INDEX IF NOT EXISTS idx_logs_task_id ON data_pipeline_task_logs (task_id, id);
CREATE INDEX IF NOT EXISTS idx_logs_timestamp ON data_pipeline_task_logs (timestamp DESC);
CREATE INDEX IF NOT EXISTS idx_logs_level ON data_pipeline_task_logs (log_level);
CREATE INDEX IF NOT EXISTS idx_logs_step ON data_pipeline_task_logs (step_name);
CREATE INDEX IF NOT EXISTS idx_outputs_task_id ON data_pipeline_task_outputs (task_id);
CREATE INDEX IF NOT EXISTS idx_outputs_file_type ON data_pipeline_task_outputs (file_type);
CREATE INDEX IF NOT EXISTS idx_outputs_primary ON data_pipeline_task_outputs (is_primary) WHERE is_primary;
CREATE INDEX IF NOT EXISTS idx_steps_status ON data_pipeline_task_steps (status);
"""

_V3_RETENTION = """
CREATE OR REPLACE FUNCTION cleanup_old_data_pipeline_tasks(days_to_keep INTEGER DEFAULT 30)
RETURNS INTEGER AS $$
DECLARE deleted_count INTEGER;
BEGIN
    -- Rows only: files are removed by the retention operation, which calls this afterwards.
    DELETE FROM data_pipeline_tasks
    WHERE created_at < now() - make_interval(days => days_to_keep)
      AND status IN ('completed', 'partial_completed', 'failed');
    GET DIAGNOSTICS deleted_count = ROW_COUNT;
    RETURN deleted_count;
END;
$$ LANGUAGE plpgsql;
"""

_V4_DAG_ID = """
ALTER TABLE data_pipeline_tasks ADD COLUMN IF NOT EXISTS dag_id VARCHAR(250);
"""

_V5_LIST_SPEED = """
-- Sort indexes in exactly the order the listing asks for (DESC NULLS LAST, id DESC; ASC is a backward scan).
DROP INDEX IF EXISTS idx_tasks_created_at;
DROP INDEX IF EXISTS idx_tasks_status_created;
DROP INDEX IF EXISTS idx_tasks_updated_at;
DROP INDEX IF EXISTS idx_tasks_started_at;
DROP INDEX IF EXISTS idx_tasks_completed_at;
CREATE INDEX IF NOT EXISTS idx_tasks_sort_created_at ON data_pipeline_tasks (created_at DESC NULLS LAST, id DESC);
CREATE INDEX IF NOT EXISTS idx_tasks_sort_updated_at ON data_pipeline_tasks (updated_at DESC NULLS LAST, id DESC);
CREATE INDEX IF NOT EXISTS idx_tasks_sort_started_at ON data_pipeline_tasks (started_at DESC NULLS LAST, id DESC);
CREATE INDEX IF NOT EXISTS idx_tasks_sort_completed_at ON data_pipeline_tasks (completed_at DESC NULLS LAST, id DESC);
CREATE INDEX IF NOT EXISTS idx_tasks_sort_status ON data_pipeline_tasks (status DESC NULLS LAST, id DESC);
CREATE INDEX IF NOT EXISTS idx_tasks_sort_task_name ON data_pipeline_tasks (task_name DESC NULLS LAST, id DESC);
CREATE INDEX IF NOT EXISTS idx_tasks_sort_progress ON data_pipeline_tasks (progress DESC NULLS LAST, id DESC);
CREATE INDEX IF NOT EXISTS idx_tasks_sort_db_name ON data_pipeline_tasks (db_name DESC NULLS LAST, id DESC);
CREATE INDEX IF NOT EXISTS idx_tasks_status_sort_created
    ON data_pipeline_tasks (status, created_at DESC NULLS LAST, id DESC);

-- Exact totals without counting rows: one counter per status, kept by a trigger in the same transaction.
CREATE TABLE IF NOT EXISTS data_pipeline_task_counts (
    status VARCHAR(20) PRIMARY KEY,
    n BIGINT NOT NULL DEFAULT 0
);
CREATE OR REPLACE FUNCTION data_pipeline_task_counts_keep() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE data_pipeline_task_counts SET n = n - 1 WHERE status = OLD.status;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO data_pipeline_task_counts (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = data_pipeline_task_counts.n + 1;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS trg_task_counts_insert_delete ON data_pipeline_tasks;
CREATE TRIGGER trg_task_counts_insert_delete AFTER INSERT OR DELETE ON data_pipeline_tasks
    FOR EACH ROW EXECUTE FUNCTION data_pipeline_task_counts_keep();
DROP TRIGGER IF EXISTS trg_task_counts_status ON data_pipeline_tasks;
CREATE TRIGGER trg_task_counts_status AFTER UPDATE OF status ON data_pipeline_tasks
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION data_pipeline_task_counts_keep();
DROP TRIGGER IF EXISTS trg_task_counts_truncate ON data_pipeline_tasks;
CREATE OR REPLACE FUNCTION data_pipeline_task_counts_reset() RETURNS trigger AS $$
BEGIN
    DELETE FROM data_pipeline_task_counts;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER trg_task_counts_truncate AFTER TRUNCATE ON data_pipeline_tasks
    FOR EACH STATEMENT EXECUTE FUNCTION data_pipeline_task_counts_reset();
-- Start from the truth (existing rows of an upgraded database).
LOCK TABLE data_pipeline_tasks IN SHARE MODE;
DELETE FROM data_pipeline_task_counts;
INSERT INTO data_pipeline_task_counts (status, n) SELECT status, count(*) FROM data_pipeline_tasks GROUP BY status;
"""

_V6_TOMBSTONES = """
-- Ids of deleted tasks, so that an id never names two different tasks over time. A trigger fills it
-- on every deletion (the API, the retention function, a manual DELETE); the store's id creation skips them.
CREATE TABLE IF NOT EXISTS data_pipeline_task_tombstones (
    id VARCHAR(32) PRIMARY KEY,
    deleted_at timestamptz NOT NULL DEFAULT now()
);
CREATE OR REPLACE FUNCTION data_pipeline_task_tombstone_keep() RETURNS trigger AS $$
BEGIN
    INSERT INTO data_pipeline_task_tombstones (id) VALUES (OLD.id) ON CONFLICT (id) DO NOTHING;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS trg_task_tombstone ON data_pipeline_tasks;
CREATE TRIGGER trg_task_tombstone AFTER DELETE ON data_pipeline_tasks
    FOR EACH ROW EXECUTE FUNCTION data_pipeline_task_tombstone_keep();
"""

_V7_OWNER = """
-- created_by names the user for tasks created through the task API (kinds stay for the others):
-- the closed list of kinds becomes "not blank", and the column fits a user name. Old rows stay valid.
ALTER TABLE data_pipeline_tasks DROP CONSTRAINT IF EXISTS data_pipeline_tasks_created_by_check;
ALTER TABLE data_pipeline_tasks ALTER COLUMN created_by TYPE VARCHAR(256);
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'data_pipeline_tasks_created_by_not_blank') THEN
        ALTER TABLE data_pipeline_tasks ADD CONSTRAINT data_pipeline_tasks_created_by_not_blank
            CHECK (btrim(created_by) <> '');
    END IF;
END $$;
"""

_V8_SELECTED_STEPS = """
-- The steps the latest run selected: the others keep the status, times and result of the run that last
-- ran them, and progress counts the selected steps only. NULL (older rows): the non-skipped steps.
ALTER TABLE data_pipeline_tasks ADD COLUMN IF NOT EXISTS selected_steps JSONB;
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "original task tables", _V1_ORIGINAL),
    Migration(2, "deletion columns, steps, secrets, timestamptz, constraints, indexes", _V2_UPGRADE),
    Migration(3, "retention function", _V3_RETENTION),
    Migration(4, "DAG id of the linked run", _V4_DAG_ID),
    Migration(5, "listing: exact sort indexes and per-status counters", _V5_LIST_SPEED),
    Migration(6, "tombstones: ids of deleted tasks are never issued again", _V6_TOMBSTONES),
    Migration(7, "created_by holds the creating user's name", _V7_OWNER),
    Migration(8, "the steps the latest run selected", _V8_SELECTED_STEPS),
)


def migrate(dsn_or_conn: str | psycopg.Connection) -> list[int]:
    """Bring the task store schema up to date; returns the versions applied by this call."""
    return apply_migrations(dsn_or_conn, COMPONENT, MIGRATIONS)
