"""The task store's connection pool, shared by the parts of ``TaskStore`` (tasks, steps, logs, claims)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from data_pipeline.tasks import migrations
from platform_db import platform_dsn


class PooledStore:
    """A lazily opened pool on the platform DSN. Safe to share between threads."""

    def __init__(self, dsn: str | None = None, *, max_pool_size: int = 8) -> None:
        self._dsn = dsn
        self._max_pool_size = max_pool_size
        self._pool: ConnectionPool | None = None
        self._pool_lock = threading.Lock()

    @property
    def dsn(self) -> str:
        if self._dsn is None:
            self._dsn = platform_dsn()
        return self._dsn

    def _get_pool(self) -> ConnectionPool:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ConnectionPool(
                    self.dsn,
                    min_size=1,
                    max_size=self._max_pool_size,
                    kwargs={"row_factory": dict_row},
                    check=ConnectionPool.check_connection,
                    open=True,
                    name="data_pipeline_task_store",
                )
            return self._pool

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """A pooled connection inside a transaction (committed on success, rolled back on error)."""
        with self._get_pool().connection() as conn:
            yield conn

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    def migrate(self) -> list[int]:
        with self.connection() as conn:
            return migrations.migrate(conn)
