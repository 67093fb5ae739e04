"""Schema of the publisher's platform tables (applied with ``platform_db.apply_migrations``).

Names follow the seed's data model. Every statement is re-runnable so an older database is
upgraded in place. ``workflow_task_relation.task_id`` is UNIQUE: the database itself guarantees
that a task belongs to one workflow, whatever the service layer does.
"""

from __future__ import annotations

from platform_db import Migration

COMPONENT = "dolphin_publisher"

_V1 = """
CREATE TABLE IF NOT EXISTS platform_task (
    task_id              varchar(128) PRIMARY KEY,
    name                 text         NOT NULL,
    task_type            varchar(16)  NOT NULL DEFAULT 'SHELL'
                         CHECK (task_type IN ('SHELL', 'SQL', 'PYTHON')),
    command              text,
    sql_text             text,
    datasource           integer,
    datasource_type      varchar(32)  NOT NULL DEFAULT 'POSTGRESQL',
    worker_group         text         NOT NULL DEFAULT 'default',
    retries              integer      NOT NULL DEFAULT 0 CHECK (retries >= 0),
    retry_delay_minutes  integer      NOT NULL DEFAULT 1 CHECK (retry_delay_minutes >= 0),
    timeout_minutes      integer      NOT NULL DEFAULT 0 CHECK (timeout_minutes >= 0),
    description          text         NOT NULL DEFAULT '',
    created_at           timestamptz  NOT NULL DEFAULT now(),
    updated_at           timestamptz  NOT NULL DEFAULT now()
);

-- Lineage the dependency resolver reads: which tables a task reads and writes...
CREATE TABLE IF NOT EXISTS table_task_relation (
    id          bigserial   PRIMARY KEY,
    task_id     varchar(128) NOT NULL,
    table_name  text        NOT NULL,
    access      varchar(8)  NOT NULL CHECK (access IN ('READ', 'WRITE')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (task_id, table_name, access)
);
CREATE INDEX IF NOT EXISTS table_task_relation_table_idx ON table_task_relation (table_name, access);

-- ...and table-level lineage as a lineage system reports it (source → target, by which task).
CREATE TABLE IF NOT EXISTS data_lineage (
    id            bigserial    PRIMARY KEY,
    source_table  text         NOT NULL,
    target_table  text         NOT NULL,
    task_id       varchar(128),
    created_at    timestamptz  NOT NULL DEFAULT now(),
    UNIQUE (source_table, target_table, task_id)
);
CREATE INDEX IF NOT EXISTS data_lineage_task_idx ON data_lineage (task_id);

-- Materialised result of the resolver (the seed's task_dependency_view).
CREATE TABLE IF NOT EXISTS task_dependency_view (
    upstream_task_id    varchar(128) NOT NULL,
    downstream_task_id  varchar(128) NOT NULL,
    source              varchar(16)  NOT NULL CHECK (source IN ('lineage', 'workflow')),
    via_table           text         NOT NULL DEFAULT '',
    PRIMARY KEY (upstream_task_id, downstream_task_id, source, via_table)
);
CREATE INDEX IF NOT EXISTS task_dependency_view_down_idx ON task_dependency_view (downstream_task_id);

CREATE TABLE IF NOT EXISTS data_workflow (
    id                         bigserial    PRIMARY KEY,
    workflow_name              text         NOT NULL UNIQUE,
    description                text         NOT NULL DEFAULT '',
    status                     varchar(16)  NOT NULL DEFAULT 'draft'
                               CHECK (status IN ('draft', 'online', 'offline')),
    publish_status             varchar(16)  NOT NULL DEFAULT 'unpublished'
                               CHECK (publish_status IN
                                      ('unpublished', 'deployed', 'online', 'offline', 'failed')),
    publish_error_code         integer,
    publish_error_message      text,
    workflow_code              bigint,
    project_code               bigint,
    engine_release_state       varchar(16),
    engine_schedule_id         bigint,
    published_content_hash     varchar(64),
    current_version_id         bigint,
    last_published_version_id  bigint,
    definition_json            jsonb        NOT NULL DEFAULT '{}'::jsonb,
    entry_task_ids             jsonb        NOT NULL DEFAULT '[]'::jsonb,
    exit_task_ids              jsonb        NOT NULL DEFAULT '[]'::jsonb,
    last_execution_state       varchar(32),
    last_execution_time        timestamp,
    created_by                 text         NOT NULL DEFAULT 'system',
    updated_by                 text         NOT NULL DEFAULT 'system',
    created_at                 timestamptz  NOT NULL DEFAULT now(),
    updated_at                 timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS data_workflow_status_idx ON data_workflow (status, publish_status);
CREATE UNIQUE INDEX IF NOT EXISTS data_workflow_engine_code_idx
    ON data_workflow (project_code, workflow_code) WHERE workflow_code IS NOT NULL;

CREATE TABLE IF NOT EXISTS workflow_version (
    id                   bigserial    PRIMARY KEY,
    workflow_id          bigint       NOT NULL REFERENCES data_workflow (id) ON DELETE CASCADE,
    version_no           integer      NOT NULL,
    structure_snapshot   jsonb        NOT NULL,
    change_summary       jsonb        NOT NULL DEFAULT '{}'::jsonb,
    content_hash         varchar(64)  NOT NULL,
    trigger_source       varchar(32)  NOT NULL DEFAULT 'manual',
    engine_version       integer,
    created_by           text         NOT NULL DEFAULT 'system',
    created_at           timestamptz  NOT NULL DEFAULT now(),
    UNIQUE (workflow_id, version_no)
);

CREATE TABLE IF NOT EXISTS workflow_task_relation (
    id                        bigserial    PRIMARY KEY,
    workflow_id               bigint       NOT NULL REFERENCES data_workflow (id) ON DELETE CASCADE,
    task_id                   varchar(128) NOT NULL UNIQUE REFERENCES platform_task (task_id),
    node_attrs                jsonb        NOT NULL DEFAULT '{}'::jsonb,
    upstream_task_count       integer      NOT NULL DEFAULT 0,
    downstream_task_count     integer      NOT NULL DEFAULT 0,
    version_id                bigint       REFERENCES workflow_version (id) ON DELETE SET NULL,
    workflow_inheritance_mode varchar(32),
    engine_task_code          bigint,
    created_at                timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS workflow_task_relation_wf_idx ON workflow_task_relation (workflow_id);

CREATE TABLE IF NOT EXISTS workflow_publish_record (
    id                    bigserial    PRIMARY KEY,
    workflow_id           bigint       NOT NULL REFERENCES data_workflow (id) ON DELETE CASCADE,
    version_id            bigint       REFERENCES workflow_version (id) ON DELETE SET NULL,
    version_no            integer,
    target_engine         varchar(32)  NOT NULL DEFAULT 'dolphinscheduler',
    operation             varchar(16)  NOT NULL CHECK (operation IN ('deploy', 'online', 'offline')),
    status                varchar(16)  NOT NULL CHECK (status IN ('success', 'skipped', 'failed')),
    engine_workflow_code  bigint,
    engine_version        integer,
    content_hash          varchar(64),
    error_code            integer,
    error_message         text,
    log                   text         NOT NULL DEFAULT '',
    operator              text         NOT NULL DEFAULT 'system',
    created_at            timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS workflow_publish_record_wf_idx
    ON workflow_publish_record (workflow_id, created_at DESC);

CREATE TABLE IF NOT EXISTS workflow_integration_config (
    environment      varchar(64)  PRIMARY KEY,
    rest_base_url    text         NOT NULL,
    ui_base_url      text,
    token            text         NOT NULL,
    project_code     bigint       NOT NULL,
    project_name     text         NOT NULL DEFAULT '',
    transport        varchar(16)  NOT NULL DEFAULT 'rest' CHECK (transport IN ('rest', 'gateway')),
    gateway_host     text,
    gateway_port     integer,
    gateway_token    text,
    tenant_code      text         NOT NULL DEFAULT 'default',
    worker_group     text         NOT NULL DEFAULT 'default',
    updated_at       timestamptz  NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS workflow_instance_cache (
    workflow_id            bigint       NOT NULL REFERENCES data_workflow (id) ON DELETE CASCADE,
    instance_id            bigint       NOT NULL,
    engine_workflow_code   bigint,
    name                   text,
    state                  varchar(32),
    command_type           varchar(64),
    start_time             timestamp,
    end_time               timestamp,
    duration               text,
    run_times              integer,
    host                   text,
    executor_name          text,
    started_by             text,
    raw                    jsonb        NOT NULL DEFAULT '{}'::jsonb,
    synced_at              timestamptz  NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_id, instance_id)
);
"""

MIGRATIONS: list[Migration] = [
    Migration(1, "dolphin publisher platform tables", _V1),
]
