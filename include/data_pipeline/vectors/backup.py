"""Backup and restore of the vector tables as CSV in ``<task dir>/vector_bak/``.

A backup named ``YYYYmmdd_HHMMSS[_N]`` is one CSV per table — ``langchain_pg_collection_<name>.csv``
and ``langchain_pg_embedding_<name>.csv`` (``COPY ... TO STDOUT`` in CSV with a header; embeddings as
pgvector text) — taken from one snapshot, plus ``backup_<name>.log`` saying what was written (rows,
bytes, SHA-256). Restore loads both files with ``COPY ... FROM STDIN`` into staging tables and
applies them in one transaction, so a malformed file is reported and the tables stay as they were.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import psycopg
from psycopg import sql

from data_pipeline.errors import InvalidInput, NotFound, UnsafePath
from data_pipeline.files.task_dir import atomic_write_text
from data_pipeline.secrets_mask import mask
from data_pipeline.vectors.store import (
    COLLECTION_COLUMNS,
    COLLECTION_TABLE,
    EMBEDDING_COLUMNS,
    EMBEDDING_TABLE,
    VectorStoreError,
    connect,
    describe_dsn,
    ensure_schema,
    truncate,
    vector_dsn,
)

BACKUP_DIR = "vector_bak"
TABLES: dict[str, tuple[str, ...]] = {COLLECTION_TABLE: COLLECTION_COLUMNS, EMBEDDING_TABLE: EMBEDDING_COLUMNS}
_ORDER = {COLLECTION_TABLE: "name", EMBEDDING_TABLE: "id"}
_NAME = re.compile(r"^(?:backup_)?(\d{8}_\d{6}(?:_\d{1,3})?)(?:\.log)?$")
RestoreMode = Literal["replace", "merge"]


def csv_name(table: str, name: str) -> str:
    return f"{table}_{name}.csv"


def log_name(name: str) -> str:
    return f"backup_{name}.log"


def _backup_dir(task_dir: Path, *, create: bool) -> Path:
    path = task_dir / BACKUP_DIR
    if os.path.islink(path):
        raise UnsafePath(f"{BACKUP_DIR} in {task_dir.name} is a symbolic link; refusing to use it")
    if create:
        path.mkdir(exist_ok=True)
    return path


def _new_name(folder: Path) -> str:
    base = datetime.now().strftime("%Y%m%d_%H%M%S")
    for n in range(1000):
        name = base if n == 0 else f"{base}_{n}"
        try:  # the log file is created exclusively: two backups in one second get different names
            fd = os.open(folder / log_name(name), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            continue
        os.close(fd)
        return name
    raise VectorStoreError(f"too many vector backups named {base}_* in {folder}")


def _copy_out(conn: psycopg.Connection, table: str, target: Path) -> tuple[int, int, str]:
    """Stream ``table`` as CSV into ``target`` (temp file + rename); return rows, bytes, sha256."""
    columns = TABLES[table]
    query = sql.SQL("COPY (SELECT {cols} FROM {t} ORDER BY {o}) TO STDOUT WITH (FORMAT csv, HEADER true)").format(
        cols=sql.SQL(", ").join(map(sql.Identifier, columns)), t=sql.Identifier(table),
        o=sql.Identifier(_ORDER[table]))
    digest = hashlib.sha256()
    size = 0
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        with open(tmp, "wb") as handle, conn.cursor() as cur:
            with cur.copy(query) as copy:
                for chunk in copy:
                    data = bytes(chunk)
                    handle.write(data)
                    digest.update(data)
                    size += len(data)
            rows = cur.rowcount  # set once the COPY has finished
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return rows, size, digest.hexdigest()


def backup_vector_tables(task_dir: Path, dsn: str | None = None, *,
                         truncate_collections: Sequence[str] = ()) -> dict[str, Any]:
    """Write a consistent CSV backup of both tables; optionally empty ``truncate_collections`` right after.

    With truncation the tables are locked against writers between the snapshot and the delete, in one
    transaction: no row written in between can be lost without being in the backup.
    """
    dsn = dsn or vector_dsn()
    folder = _backup_dir(task_dir, create=True)
    name = _new_name(folder)
    started = datetime.now()
    t0 = time.perf_counter()
    files: dict[str, dict[str, Any]] = {}
    deleted = 0
    try:
        with connect(dsn) as conn:
            ensure_schema(conn)
            with conn.transaction():
                if truncate_collections:
                    conn.execute(sql.SQL("LOCK TABLE {c}, {e} IN SHARE ROW EXCLUSIVE MODE").format(
                        c=sql.Identifier(COLLECTION_TABLE), e=sql.Identifier(EMBEDDING_TABLE)))
                else:
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                for table in TABLES:
                    file = csv_name(table, name)
                    rows, size, digest = _copy_out(conn, table, folder / file)
                    files[table] = {"file": f"{BACKUP_DIR}/{file}", "rows": rows, "bytes": size, "sha256": digest}
                if truncate_collections:
                    deleted = truncate(conn, truncate_collections)
    except BaseException:
        for info in files.values():
            (task_dir / info["file"]).unlink(missing_ok=True)
        (folder / log_name(name)).unlink(missing_ok=True)
        raise
    seconds = round(time.perf_counter() - t0, 3)
    lines = [
        f"vector table backup {name}",
        f"started: {started.isoformat(timespec='seconds')}",
        f"vector store: {describe_dsn(dsn)}",
        *(f"{table}: {info['rows']} rows -> {info['file']} ({info['bytes']} bytes, sha256 {info['sha256']})"
          for table, info in files.items()),
    ]
    if truncate_collections:
        lines.append(f"then emptied collections {', '.join(truncate_collections)}: {deleted} rows deleted")
    lines.append(f"finished in {seconds} s")
    atomic_write_text(folder / log_name(name), mask("\n".join(lines)) + "\n")
    return {
        "backup_name": name,
        "log_file": f"{BACKUP_DIR}/{log_name(name)}",
        "files": [info["file"] for info in files.values()],
        "tables": files,
        "rows": {table: info["rows"] for table, info in files.items()},
        "truncated_collections": list(truncate_collections),
        "rows_deleted": deleted,
        "duration_seconds": seconds,
    }


def truncate_collections(collections: Sequence[str], dsn: str | None = None) -> int:
    """Delete every row of ``collections`` (the collections themselves stay); returns rows deleted."""
    with connect(dsn or vector_dsn()) as conn:
        ensure_schema(conn)
        with conn.transaction():
            return truncate(conn, collections)


def validate_backup_name(backup_name: str) -> str:
    """``YYYYmmdd_HHMMSS[_N]`` (``backup_`` prefix and ``.log`` suffix accepted); anything else is rejected."""
    m = _NAME.match(backup_name or "") if isinstance(backup_name, str) else None
    if m is None:
        shown = backup_name if isinstance(backup_name, str) and backup_name.isprintable() else repr(backup_name)
        raise InvalidInput(f"invalid vector backup name {shown!r}: expected YYYYmmdd_HHMMSS as listed in "
                           f"{BACKUP_DIR}/", backup_name=shown)
    return m.group(1)


def _regular_file(path: Path) -> Path:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise NotFound(f"vector backup file not found: {BACKUP_DIR}/{path.name}") from None
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePath(f"{BACKUP_DIR}/{path.name} is not a regular file (symbolic links are not followed)")
    return path


def list_vector_backups(task_dir: Path) -> list[dict[str, Any]]:
    """Backups in ``vector_bak/``, newest first, with their files and sizes."""
    folder = _backup_dir(task_dir, create=False)
    if not folder.is_dir():
        return []
    found = []
    for entry in os.scandir(folder):
        m = re.fullmatch(r"backup_(\d{8}_\d{6}(?:_\d{1,3})?)\.log", entry.name)
        if not m or not entry.is_file(follow_symlinks=False):
            continue
        name = m.group(1)
        files = {t: folder / csv_name(t, name) for t in TABLES}
        found.append({
            "backup_name": name,
            "log_file": f"{BACKUP_DIR}/{entry.name}",
            "files": [f"{BACKUP_DIR}/{p.name}" for p in files.values() if p.is_file() and not p.is_symlink()],
            "complete": all(p.is_file() and not p.is_symlink() for p in files.values()),
            "bytes": sum(p.stat().st_size for p in files.values() if p.is_file() and not p.is_symlink()),
        })
    return sorted(found, key=lambda b: b["backup_name"], reverse=True)


def _check_header(path: Path, columns: Sequence[str]) -> None:
    with open(path, "rb") as handle:
        first = handle.readline(4096)
    header = first.decode("utf-8", errors="replace").strip("\r\n")
    if header != ",".join(columns):
        raise InvalidInput(f"{BACKUP_DIR}/{path.name} has header {header[:200]!r}; expected {','.join(columns)!r}",
                           file=f"{BACKUP_DIR}/{path.name}")


def restore_vector_tables(task_dir: Path, backup_name: str, dsn: str | None = None,
                          mode: RestoreMode = "replace") -> dict[str, Any]:
    """Load a backup back: ``replace`` makes the tables equal to it; ``merge`` upserts its rows by id.

    Everything happens in one transaction; a file that does not parse is an ``InvalidInput`` naming the
    file and line, and the tables are left exactly as they were.
    """
    if mode not in ("replace", "merge"):
        raise InvalidInput(f"restore mode must be replace or merge, got {mode!r}")
    name = validate_backup_name(backup_name)
    folder = _backup_dir(task_dir, create=False)
    paths = {table: _regular_file(folder / csv_name(table, name)) for table in TABLES}
    for table, path in paths.items():
        _check_header(path, TABLES[table])
    dsn = dsn or vector_dsn()
    t0 = time.perf_counter()
    with connect(dsn) as conn:
        ensure_schema(conn)
        with conn.transaction():
            before = _counts(conn)
            for table, path in paths.items():
                _stage(conn, table, path)
            if mode == "replace":
                _apply_replace(conn)
            else:
                _apply_merge(conn)
            after = _counts(conn)
            staged = {table: conn.execute(sql.SQL("SELECT count(*) FROM {s}").format(
                s=sql.Identifier(_stage_name(table)))).fetchone()[0] for table in TABLES}  # type: ignore[index]
    return {
        "backup_name": name, "mode": mode, "rows_in_backup": staged, "rows_before": before, "rows_after": after,
        "vector_store": describe_dsn(dsn), "duration_seconds": round(time.perf_counter() - t0, 3),
    }


def _stage_name(table: str) -> str:
    return f"_dp_restore_{table}"


def _counts(conn: psycopg.Connection) -> dict[str, int]:
    return {table: conn.execute(sql.SQL("SELECT count(*) FROM {t}").format(t=sql.Identifier(table))).fetchone()[0]
            for table in TABLES}  # type: ignore[index]


def _stage(conn: psycopg.Connection, table: str, path: Path) -> None:
    stage = sql.Identifier(_stage_name(table))
    conn.execute(sql.SQL("CREATE TEMP TABLE {s} (LIKE {t}) ON COMMIT DROP").format(s=stage, t=sql.Identifier(table)))
    cols = sql.SQL(", ").join(map(sql.Identifier, TABLES[table]))
    try:
        with conn.cursor() as cur, cur.copy(sql.SQL("COPY {s} ({cols}) FROM STDIN WITH (FORMAT csv, HEADER true)")
                                           .format(s=stage, cols=cols)) as copy, open(path, "rb") as handle:
            while data := handle.read(1 << 20):
                copy.write(data)
    except (psycopg.errors.DataError, psycopg.errors.IntegrityError, psycopg.errors.BadCopyFileFormat) as exc:
        diag = exc.diag
        where = f" ({diag.context.strip()})" if diag.context else ""
        raise InvalidInput(f"{BACKUP_DIR}/{path.name} is malformed: {diag.message_primary or exc}{where}; "
                           "nothing was restored", file=f"{BACKUP_DIR}/{path.name}") from None
    if table == EMBEDDING_TABLE:
        dup = conn.execute(sql.SQL("SELECT id FROM {s} GROUP BY id HAVING count(*) > 1 LIMIT 1").format(s=stage))
        row = dup.fetchone()
        if row:
            raise InvalidInput(f"{BACKUP_DIR}/{path.name} holds id {row[0]!r} more than once; nothing was restored")


def _apply_replace(conn: psycopg.Connection) -> None:
    c, e = sql.Identifier(COLLECTION_TABLE), sql.Identifier(EMBEDDING_TABLE)
    sc, se = sql.Identifier(_stage_name(COLLECTION_TABLE)), sql.Identifier(_stage_name(EMBEDDING_TABLE))
    conn.execute(sql.SQL("DELETE FROM {e}").format(e=e))
    conn.execute(sql.SQL("DELETE FROM {c}").format(c=c))
    conn.execute(sql.SQL("INSERT INTO {c} (uuid, name, cmetadata) SELECT uuid, name, cmetadata FROM {sc}")
                 .format(c=c, sc=sc))
    _insert_embeddings(conn, sql.SQL("SELECT id, collection_id, embedding, document, cmetadata FROM {se}")
                       .format(se=se), upsert=False)


def _apply_merge(conn: psycopg.Connection) -> None:
    """Collections matched by name (a recreated collection has a new uuid), embeddings upserted by id."""
    c, sc, se = (sql.Identifier(COLLECTION_TABLE), sql.Identifier(_stage_name(COLLECTION_TABLE)),
                 sql.Identifier(_stage_name(EMBEDDING_TABLE)))
    conn.execute(sql.SQL("INSERT INTO {c} (uuid, name, cmetadata) SELECT s.uuid, s.name, s.cmetadata FROM {sc} s "
                         "WHERE NOT EXISTS (SELECT 1 FROM {c} x WHERE x.name = s.name OR x.uuid = s.uuid)")
                 .format(c=c, sc=sc))
    _insert_embeddings(conn, sql.SQL(
        "SELECT s.id, COALESCE(cur.uuid, s.collection_id), s.embedding, s.document, s.cmetadata FROM {se} s "
        "LEFT JOIN {sc} bc ON bc.uuid = s.collection_id LEFT JOIN {c} cur ON cur.name = bc.name"
    ).format(se=se, sc=sc, c=c), upsert=True)


def _insert_embeddings(conn: psycopg.Connection, select: sql.Composable, *, upsert: bool) -> None:
    conflict = sql.SQL(
        " ON CONFLICT (id) DO UPDATE SET collection_id = EXCLUDED.collection_id, embedding = EXCLUDED.embedding, "
        "document = EXCLUDED.document, cmetadata = EXCLUDED.cmetadata") if upsert else sql.SQL("")
    try:
        conn.execute(sql.SQL("INSERT INTO {e} (id, collection_id, embedding, document, cmetadata) {sel}{conflict}")
                     .format(e=sql.Identifier(EMBEDDING_TABLE), sel=select, conflict=conflict))
    except psycopg.errors.ForeignKeyViolation as exc:
        raise InvalidInput("the embedding backup refers to a collection that is not in the collection backup "
                           f"({exc.diag.message_detail or exc}); nothing was restored") from None
