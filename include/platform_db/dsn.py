"""Where the platform database is: one rule for every process (CLI, Airflow, API, tests)."""

from __future__ import annotations

import functools

from platform_db.connections import get_connection, redact_dsn
from platform_db.settings import PLATFORM_DB_CONN_ID, databases

PLATFORM_CONN_ID = PLATFORM_DB_CONN_ID
EMBEDDED_DATABASE = "data_pipeline"
__all__ = ["EMBEDDED_DATABASE", "PLATFORM_CONN_ID", "platform_dsn", "redact_dsn"]


def platform_dsn() -> str:
    """``DATA_PIPELINE_DB_URI``, else the ``data_pipeline_db`` connection, else the embedded server."""
    uri = databases().db_uri
    if uri:
        return uri
    conn = get_connection(PLATFORM_CONN_ID)
    if conn is not None:
        return conn.postgres_uri()
    return _embedded_dsn()


@functools.cache
def _embedded_dsn() -> str:
    from platform_db.embedded import ensure_database  # psycopg and pgserver only when it is used

    return ensure_database(EMBEDDED_DATABASE)
