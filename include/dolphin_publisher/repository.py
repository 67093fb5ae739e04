"""The publisher's database: schema, connections, transactions, the publish lock, and ``Repo``.

All SQL is psycopg 3, parameterised, identifiers only through ``psycopg.sql``. Services open one
connection per operation and wrap writes in a single transaction, so a rejected definition or a
failed publish never leaves half of its rows behind.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import psycopg
from psycopg.rows import dict_row

from dolphin_publisher.engine_sql import EngineStatements
from dolphin_publisher.migrations import COMPONENT, MIGRATIONS
from dolphin_publisher.statements import Row
from dolphin_publisher.task_sql import TaskStatements
from dolphin_publisher.workflow_sql import WorkflowStatements
from platform_db import apply_migrations, platform_dsn

__all__ = ["Database", "Repo", "Row"]

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


class Repo(TaskStatements, WorkflowStatements, EngineStatements):
    """SQL statements over one connection (usually inside ``Database.transaction``).

    One object for every table, so a service's transaction is one ``Repo``; the statements are
    grouped by table family in ``task_sql``, ``workflow_sql`` and ``engine_sql``.
    """
