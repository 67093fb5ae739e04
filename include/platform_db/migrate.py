"""Versioned, idempotent schema migrations shared by the platform's components.

Each component (``data_pipeline``, ``dolphin_publisher``) owns an ordered list of migrations. Applied
versions are recorded in ``platform_schema_migrations``; a transaction-scoped advisory lock (one for all
components) makes concurrent migrators (several Airflow components starting at once) wait for each other. Migration
SQL is itself written to be re-runnable (``IF NOT EXISTS``) so a database created by an older
script without the bookkeeping table is upgraded in place.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg.rows import tuple_row

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS platform_schema_migrations (
    component  text        NOT NULL,
    version    integer     NOT NULL,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (component, version)
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def apply_migrations(dsn_or_conn: str | psycopg.Connection, component: str,
                     migrations: Sequence[Migration]) -> list[int]:
    """Apply the migrations of ``component`` not yet recorded; return the versions applied now."""
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)):
        raise ValueError(f"{component}: migration versions must be unique and ascending: {versions}")
    if isinstance(dsn_or_conn, str):
        with psycopg.connect(dsn_or_conn) as conn:
            return _apply(conn, component, migrations)
    return _apply(dsn_or_conn, component, migrations)


def _apply(conn: psycopg.Connection, component: str, migrations: Sequence[Migration]) -> list[int]:
    # One key for every component: they share the bookkeeping table, whose CREATE ... IF NOT EXISTS
    # races between two components (the maintenance and the history-sync DAGs on a fresh store did).
    lock_key = zlib.crc32(b"platform_schema_migrations")
    applied_now: list[int] = []
    with conn.transaction():
        # Serialise the bookkeeping DDL itself too: CREATE TABLE IF NOT EXISTS races otherwise.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key,))
        conn.execute(_BOOKKEEPING)
        cur = conn.cursor(row_factory=tuple_row)  # callers' connections may use dict rows
        done = {
            row[0]
            for row in cur.execute(
                "SELECT version FROM platform_schema_migrations WHERE component = %s", (component,)
            )
        }
        for migration in migrations:
            if migration.version in done:
                continue
            conn.execute(migration.sql)
            conn.execute(
                "INSERT INTO platform_schema_migrations (component, version, name) VALUES (%s, %s, %s)",
                (component, migration.version, migration.name),
            )
            applied_now.append(migration.version)
    return applied_now
