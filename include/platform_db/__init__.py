"""The PostgreSQL database the platform keeps its own state in.

Shared by ``data_pipeline`` (task store, vector store) and ``dolphin_publisher`` (workflow tables):
where the database is (an Airflow connection, an environment variable or the embedded server),
how connection settings are read (through Airflow when it runs, directly otherwise), and how
versioned migrations are applied.
"""

from platform_db.connections import ConnectionInfo, ConnectionNotFound, ConnectionUnavailable, get_connection
from platform_db.dsn import platform_dsn, redact_dsn
from platform_db.migrate import Migration, apply_migrations

__all__ = [
    "ConnectionInfo",
    "ConnectionNotFound",
    "ConnectionUnavailable",
    "Migration",
    "apply_migrations",
    "get_connection",
    "platform_dsn",
    "redact_dsn",
]
