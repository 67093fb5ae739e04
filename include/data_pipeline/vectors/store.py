"""The pgvector store Vanna reads: the langchain-postgres ``PGVector`` table layout.

Two tables, as langchain-postgres creates them: ``langchain_pg_collection`` (one row per collection:
``ddl``, ``documentation``, ``sql``, ``error_sql``) and ``langchain_pg_embedding`` (one row per
document: id, collection, vector, text, JSONB metadata). Ids follow Vanna's convention
(``<uuid>-ddl``, ``-doc``, ``-sql``): Vanna's ``PG_VectorStore`` tells the kind of a row by the last
three characters of ``cmetadata->>'id'`` (``get_training_data``) and ``remove_collection`` deletes by
``LIKE '%sql'``, so ``error_sql`` rows end in ``-error`` (never mistaken for question/SQL pairs). The
uuid is a uuid5 of collection and text, so loading the same document again updates its row instead of
adding a duplicate.

Writes go through binary ``COPY`` (pgvector's psycopg adapter for ``vector``, psycopg's for
``jsonb``) into a temporary table and one ``INSERT ... ON CONFLICT (id) DO UPDATE`` per batch,
rows merged in id order (concurrent loads lock rows in the same order: no deadlock). The write
path for 10,000 rows of 1024 dimensions (chunks of 1,000) takes 0.9-1.0 s, against 0.65 s when the
vector and jsonb wire formats were packed by hand and 1.6-1.8 s for pipelined ``executemany``
upserts; in step 4 as a whole the offline embedder's 15+ s dominate
(``bench/bench_training_load.py [--strategies]``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from data_pipeline import config
from data_pipeline.errors import PipelineError
from data_pipeline.secrets_mask import mask
from platform_db import platform_dsn
from platform_db.extensions import create_extension

VECTOR_DB_ENV = config.Databases.env_name("vector_db_uri")
COLLECTION_TABLE = "langchain_pg_collection"
EMBEDDING_TABLE = "langchain_pg_embedding"
COLLECTION_COLUMNS = ("uuid", "name", "cmetadata")
EMBEDDING_COLUMNS = ("id", "collection_id", "embedding", "document", "cmetadata")
_ID_NAMESPACE = uuid.UUID("6f1d2c1e-3b7a-5d51-9a53-7c0b4a8e2f10")  # fixed: ids must never change
_DDL_LOCK = 7_346_125_001  # advisory lock serialising schema creation between concurrent loaders


@dataclass(frozen=True)
class Collection:
    """A Vanna collection: its name in ``langchain_pg_collection`` and the suffix of its row ids."""

    name: str
    id_suffix: str


# The one place that knows Vanna's names. Keys are what our documents call their kind.
COLLECTIONS: dict[str, Collection] = {
    "ddl": Collection("ddl", "ddl"),
    "documentation": Collection("documentation", "doc"),
    "sql": Collection("sql", "sql"),
    "error_sql": Collection("error_sql", "error"),  # not "-sql": see the module docstring
}
LOADED_COLLECTIONS = ("ddl", "documentation", "sql")  # what step 4 loads (and truncates); error_sql is feedback


class VectorStoreError(PipelineError):
    error_code = "VECTOR_STORE_ERROR"
    http_status = 502


def vector_dsn() -> str:
    """``DATA_PIPELINE_VECTOR_DB_URI`` if set, else the platform database."""
    return config.databases().vector_db_uri or platform_dsn()


def describe_dsn(dsn: str) -> str:
    """``host/db`` for messages and results: never the password."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return mask(dsn)
    host = str(parts.get("host") or "localhost")
    if host.startswith("/"):
        host = "local socket"
    return f"{host}/{parts.get('dbname') or ''}"


def document_id(collection: str, text: str) -> str:
    """Stable per content: the same text in the same collection always gets the same id."""
    coll = COLLECTIONS[collection]
    return f"{uuid.uuid5(_ID_NAMESPACE, coll.name + chr(0) + text)}-{coll.id_suffix}"


def collection_uuid(name: str) -> uuid.UUID:
    return uuid.uuid5(_ID_NAMESPACE, "collection" + chr(0) + name)


@dataclass
class VectorRow:
    id: str
    collection: str
    embedding: Sequence[float]
    document: str
    cmetadata: dict[str, Any]


@dataclass
class UpsertCounts:
    inserted: int = 0
    updated: int = 0

    def add(self, other: UpsertCounts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated


@contextmanager
def connect(dsn: str, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    """A connection to the vector store; failures name the database, never the password."""
    try:
        conn = psycopg.connect(dsn, autocommit=autocommit, connect_timeout=15, application_name="data_pipeline")
    except psycopg.OperationalError as exc:
        raise VectorStoreError(f"cannot connect to the vector store {describe_dsn(dsn)}: "
                               f"{mask(str(exc)).strip()}") from None
    with conn:
        yield conn


def _ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def ensure_schema(conn: psycopg.Connection) -> None:
    """Create the ``vector`` extension, both tables and their indexes if missing; check an existing layout."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
        try:
            create_extension(conn, "vector")
        except psycopg.errors.InsufficientPrivilege:
            raise VectorStoreError("the pgvector extension is not installed in the vector store and this user may "
                                   "not create it; run CREATE EXTENSION vector as a superuser") from None
        conn.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {c} (uuid uuid PRIMARY KEY, name varchar NOT NULL UNIQUE, cmetadata json)"
        ).format(c=_ident(COLLECTION_TABLE)))
        conn.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {e} (id varchar PRIMARY KEY, "
            "collection_id uuid REFERENCES {c} (uuid) ON DELETE CASCADE, "
            "embedding vector, document varchar, cmetadata jsonb)"
        ).format(e=_ident(EMBEDDING_TABLE), c=_ident(COLLECTION_TABLE)))
        conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS ix_cmetadata_gin ON {e} USING gin (cmetadata jsonb_path_ops)")
                     .format(e=_ident(EMBEDDING_TABLE)))
        conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {i} ON {e} (collection_id)")
                     .format(i=_ident(f"ix_{EMBEDDING_TABLE}_collection_id"), e=_ident(EMBEDDING_TABLE)))
        _check_layout(conn)


def _check_layout(conn: psycopg.Connection) -> None:
    """Tables made by an old langchain version (``uuid``/``custom_id``, json metadata) cannot be upserted into."""
    rows = conn.execute(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid WHERE c.oid = ANY(ARRAY[to_regclass(%s), to_regclass(%s)]) "
        "AND a.attnum > 0 AND NOT a.attisdropped",
        (COLLECTION_TABLE, EMBEDDING_TABLE),
    ).fetchall()
    found: dict[str, dict[str, str]] = {}
    for table, column, type_name in rows:
        found.setdefault(table, {})[column] = type_name
    expected = {
        COLLECTION_TABLE: {"uuid": "uuid", "name": None, "cmetadata": None},
        EMBEDDING_TABLE: {"id": None, "collection_id": "uuid", "embedding": "vector", "document": None,
                          "cmetadata": "jsonb"},
    }
    for table, columns in expected.items():
        have = found.get(table, {})
        missing = [c for c in columns if c not in have]
        if missing:
            raise VectorStoreError(f"table {table} exists with an incompatible layout (missing columns: "
                                   f"{', '.join(missing)}); it is not the langchain-postgres PGVector layout")
        for column, type_name in columns.items():
            if type_name and not have[column].startswith(type_name):
                raise VectorStoreError(f"column {table}.{column} has type {have[column]}, expected {type_name}")


def ensure_collections(conn: psycopg.Connection, names: Iterable[str]) -> dict[str, uuid.UUID]:
    """The uuid of each collection, creating missing ones (an existing collection keeps its uuid)."""
    wanted = sorted({COLLECTIONS[n].name for n in names})
    with conn.transaction():
        with conn.cursor() as cur:
            cur.executemany(
                sql.SQL("INSERT INTO {c} (uuid, name, cmetadata) VALUES (%s, %s, NULL) ON CONFLICT (name) DO NOTHING")
                .format(c=_ident(COLLECTION_TABLE)),
                [(collection_uuid(n), n) for n in wanted],
            )
        rows = conn.execute(sql.SQL("SELECT name, uuid FROM {c} WHERE name = ANY(%s)").format(
            c=_ident(COLLECTION_TABLE)), (wanted,)).fetchall()
    return {name: value for name, value in rows}


_STAGE = "_dp_vector_stage"


def _compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def upsert(conn: psycopg.Connection, rows: Sequence[VectorRow],
           collection_ids: dict[str, uuid.UUID]) -> dict[str, UpsertCounts]:
    """Insert or update ``rows`` by id in one transaction; counts per collection name.

    Binary COPY into a temporary table, then one ``INSERT ... ON CONFLICT (id) DO UPDATE``.
    """
    if not rows:
        return {}
    stage = _ident(_STAGE)
    names = {v: k for k, v in collection_ids.items()}
    if conn.adapters.types.get("vector") is None:  # once per connection: pgvector's dumpers for COPY
        register_vector(conn)
    with conn.transaction():
        conn.execute(sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {s} (id varchar, collection_id uuid, embedding vector, "
            "document varchar, cmetadata jsonb) ON COMMIT DELETE ROWS").format(s=stage))
        with conn.cursor() as cur:
            with cur.copy(sql.SQL("COPY {s} (id, collection_id, embedding, document, cmetadata) FROM STDIN "
                                  "(FORMAT BINARY)").format(s=stage)) as copy:
                # binary vector from pgvector's psycopg dumper, jsonb from psycopg's
                copy.set_types(["text", "uuid", "vector", "text", "jsonb"])
                for row in rows:
                    copy.write_row((row.id, collection_ids[COLLECTIONS[row.collection].name], row.embedding,
                                    row.document, Jsonb(row.cmetadata, dumps=_compact_json)))
            stats = cur.execute(sql.SQL(
                "SELECT s.collection_id, count(*), count(e.id) FROM {s} s LEFT JOIN {e} e USING (id) GROUP BY 1"
            ).format(s=stage, e=_ident(EMBEDDING_TABLE))).fetchall()
            cur.execute(sql.SQL(
                "INSERT INTO {e} (id, collection_id, embedding, document, cmetadata) "
                "SELECT id, collection_id, embedding, document, cmetadata FROM {s} ORDER BY id "  # fixed lock order
                "ON CONFLICT (id) DO UPDATE SET collection_id = EXCLUDED.collection_id, "
                "embedding = EXCLUDED.embedding, document = EXCLUDED.document, cmetadata = EXCLUDED.cmetadata"
            ).format(e=_ident(EMBEDDING_TABLE), s=stage))
    return {names[cid]: UpsertCounts(inserted=total - existing, updated=existing) for cid, total, existing in stats}


def loaded_ids(conn: psycopg.Connection, ids: Sequence[str], marker: dict[str, Any]) -> set[str]:
    """Which of ``ids`` are stored with metadata containing ``marker`` (e.g. this load's id)."""
    if not ids:
        return set()
    rows = conn.execute(sql.SQL("SELECT id FROM {e} WHERE id = ANY(%s) AND cmetadata @> %s::jsonb").format(
        e=_ident(EMBEDDING_TABLE)), (list(ids), json.dumps(marker))).fetchall()
    return {r[0] for r in rows}


def delete_stale(conn: psycopg.Connection, task_id: str, load_id: str, keep_ids: Sequence[str]) -> int:
    """Delete rows last loaded by ``task_id`` in an earlier load whose document is gone from the task."""
    cur = conn.execute(sql.SQL(
        "DELETE FROM {e} WHERE cmetadata @> %s::jsonb AND NOT cmetadata @> %s::jsonb AND NOT id = ANY(%s) "
        "AND collection_id IN (SELECT uuid FROM {c} WHERE name = ANY(%s))"
    ).format(e=_ident(EMBEDDING_TABLE), c=_ident(COLLECTION_TABLE)),
        (json.dumps({"task_id": task_id}), json.dumps({"load_id": load_id}), list(keep_ids),
         [COLLECTIONS[c].name for c in LOADED_COLLECTIONS]))
    return cur.rowcount


def truncate(conn: psycopg.Connection, collections: Iterable[str]) -> int:
    """Delete every row of ``collections`` (keys of ``COLLECTIONS``); the collections stay. Rows deleted."""
    names = [COLLECTIONS[c].name for c in collections]
    cur = conn.execute(sql.SQL("DELETE FROM {e} WHERE collection_id IN (SELECT uuid FROM {c} WHERE name = ANY(%s))")
                       .format(e=_ident(EMBEDDING_TABLE), c=_ident(COLLECTION_TABLE)), (names,))
    return cur.rowcount


def count_rows(conn: psycopg.Connection, *, task_id: str | None = None) -> dict[str, int]:
    """Rows per collection: all of them, or only those whose metadata names ``task_id``."""
    if task_id is None:
        query = sql.SQL("SELECT c.name, count(e.id) FROM {c} c LEFT JOIN {e} e ON e.collection_id = c.uuid "
                        "GROUP BY c.name").format(c=_ident(COLLECTION_TABLE), e=_ident(EMBEDDING_TABLE))
        rows = conn.execute(query).fetchall()
    else:
        query = sql.SQL("SELECT c.name, count(e.id) FROM {c} c LEFT JOIN {e} e ON e.collection_id = c.uuid "
                        "AND e.cmetadata @> %s::jsonb GROUP BY c.name").format(
            c=_ident(COLLECTION_TABLE), e=_ident(EMBEDDING_TABLE))
        rows = conn.execute(query, (json.dumps({"task_id": task_id}),)).fetchall()
    return {name: int(count) for name, count in sorted(rows)}
