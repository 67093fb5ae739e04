"""The embedded PostgreSQL 16 + pgvector server (PyPI ``pgserver``) every project process shares.

The server is started on first use, listens on a Unix socket only, keeps its data under
``<project>/.local/pgdata`` (or ``$DATA_PIPELINE_LOCAL_DIR/pgdata``) and keeps running after the
process that started it exits, so the CLI, Airflow components and tests all reach one server.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from platform_db.extensions import create_extension
from platform_db.settings import local_dir  # the git-ignored folder of local runtime state

if TYPE_CHECKING:
    from pgserver import PostgresServer

_lock = threading.Lock()
_servers: dict[Path, PostgresServer] = {}


def pgdata_dir() -> Path:
    return local_dir() / "pgdata"


def server(pgdata: Path | None = None) -> PostgresServer:
    """A handle on a running embedded server (the shared one unless ``pgdata`` names another), started if needed."""
    pgdata = (pgdata or pgdata_dir()).resolve()
    with _lock:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; harmless here.
            warnings.simplefilter("ignore")
            import pgserver

            handle = _servers.get(pgdata)
            if handle is None:
                pgdata.parent.mkdir(parents=True, exist_ok=True)
                handle = _servers[pgdata] = pgserver.get_server(pgdata, cleanup_mode=None)
            else:
                # Someone may have stopped or restarted it since; pgserver only starts it if needed.
                with handle._lock:
                    handle.ensure_postgres_running()
        return handle


def server_uri(database: str = "postgres", pgdata: Path | None = None) -> str:
    """URI of ``database`` on an embedded server (Unix socket, trust auth, user ``postgres``)."""
    return server(pgdata).get_uri(database)


def ensure_database(name: str, *, extensions: tuple[str, ...] = ("vector",), pgdata: Path | None = None) -> str:
    """Create ``name`` on the embedded server if missing and return its URI."""
    _create_database_if_missing(server_uri("postgres", pgdata), name)
    uri = server_uri(name, pgdata)
    if extensions:
        with psycopg.connect(uri, autocommit=True) as conn:
            for ext in extensions:
                create_extension(conn, ext)
    return uri


def _create_database_if_missing(admin_uri: str, name: str) -> None:
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return
        # Another process may win the race between the check and the create.
        with contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(name: str, pgdata: Path | None = None) -> None:
    with psycopg.connect(server_uri("postgres", pgdata), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def bin_dir() -> Path:
    """Directory of the bundled PostgreSQL programs (psql, pg_dump, pg_ctl)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def _pg_ctl(pgdata: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    cmd = [str(bin_dir() / "pg_ctl"), "-D", str(pgdata), *args]
    if os.geteuid() == 0:  # pgserver runs the server as its own unprivileged user
        cmd = ["su", "pgserver", "-s", "/bin/sh", "-c", " ".join(shlex.quote(c) for c in cmd)]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)


def stop(pgdata: Path | None = None) -> bool:
    """Stop an embedded server if it runs; returns whether it was running."""
    pgdata = (pgdata or pgdata_dir()).resolve()
    if not (pgdata / "postmaster.pid").exists():
        return False
    result = _pg_ctl(pgdata, "-m", "fast", "-w", "stop")
    with _lock:
        _servers.pop(pgdata, None)
    return result.returncode == 0


def restart(pgdata: Path | None = None) -> None:
    """Restart a server in place (same socket); reliability tests restart a private one."""
    pgdata = (pgdata or pgdata_dir()).resolve()
    result = _pg_ctl(pgdata, "-l", str(pgdata / "log"), "-m", "fast", "-w", "restart")
    if result.returncode != 0:
        raise RuntimeError(f"pg_ctl restart failed: {result.stderr.strip() or result.stdout.strip()}")
