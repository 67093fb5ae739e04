"""The embedded PostgreSQL 16 + pgvector server (PyPI ``pgserver``) every project process shares.

The server is started on first use, listens on a Unix socket only, keeps its data under
``<project>/.local/pgdata`` (or ``$DATA_PIPELINE_LOCAL_DIR/pgdata``) and keeps running after the
process that started it exits, so the CLI, Airflow components and tests all reach one server.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from pgserver import PostgresServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]

_lock = threading.Lock()
_server: PostgresServer | None = None


def local_dir() -> Path:
    """The git-ignored folder holding local runtime state (database files, Airflow home)."""
    return Path(os.environ.get("DATA_PIPELINE_LOCAL_DIR") or PROJECT_ROOT / ".local").resolve()


def pgdata_dir() -> Path:
    return local_dir() / "pgdata"


def server() -> PostgresServer:
    """Return a handle on the running embedded server, starting it when needed."""
    global _server
    with _lock:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; harmless here.
            warnings.simplefilter("ignore")
            import pgserver

            if _server is None:
                local_dir().mkdir(parents=True, exist_ok=True)
                _server = pgserver.get_server(pgdata_dir(), cleanup_mode=None)
            else:
                # Someone may have stopped or restarted it since; pgserver only starts it if needed.
                with _server._lock:
                    _server.ensure_postgres_running()
        return _server


def server_uri(database: str = "postgres") -> str:
    """URI of ``database`` on the embedded server (Unix socket, trust auth, user ``postgres``)."""
    return server().get_uri(database)


def ensure_database(name: str, *, extensions: tuple[str, ...] = ("vector",)) -> str:
    """Create ``name`` on the embedded server if missing and return its URI."""
    _create_database_if_missing(server_uri("postgres"), name)
    uri = server_uri(name)
    if extensions:
        with psycopg.connect(uri, autocommit=True) as conn:
            for ext in extensions:
                conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext)))
    return uri


def _create_database_if_missing(admin_uri: str, name: str) -> None:
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return
        # Another process may win the race between the check and the create.
        with contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(name: str) -> None:
    with psycopg.connect(server_uri("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def bin_dir() -> Path:
    """Directory of the bundled PostgreSQL programs (psql, pg_dump, pg_ctl)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def stop() -> bool:
    """Stop the embedded server if it runs; returns whether it was running."""
    import subprocess

    pid_file = pgdata_dir() / "postmaster.pid"
    if not pid_file.exists():
        return False
    cmd = [str(bin_dir() / "pg_ctl"), "-D", str(pgdata_dir()), "-m", "fast", "-w", "stop"]
    if os.geteuid() == 0:
        cmd = ["su", "pgserver", "-s", "/bin/sh", "-c", " ".join(_shell_quote(c) for c in cmd)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    global _server
    with _lock:
        _server = None
    return result.returncode == 0


def restart() -> None:
    """Restart the server in place (same socket); used by reliability tests."""
    import subprocess

    cmd = [
        str(bin_dir() / "pg_ctl"), "-D", str(pgdata_dir()), "-l", str(pgdata_dir() / "log"),
        "-m", "fast", "-w", "restart",
    ]
    if os.geteuid() == 0:
        cmd = ["su", "pgserver", "-s", "/bin/sh", "-c", " ".join(_shell_quote(c) for c in cmd)]
    subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60)


def _shell_quote(value: str) -> str:
    import shlex

    return shlex.quote(value)
