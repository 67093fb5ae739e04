"""Rewrite stored vectors with the configured embedder: ``python -m data_pipeline reembed``.

Switching embedding models (offline to an endpoint, or another model) makes the old vectors useless
to a client configured with the new one, and ``training_load`` refuses to mix them
(``vectors.identity``). Re-embedding keeps every row — its id, text and metadata, including rows a
Vanna client added with ``train()`` — and only replaces the vector, then records the new embedder in
the collection. ``--all`` covers every collection Vanna and the pipeline use (``ddl``,
``documentation``, ``sql``, ``error_sql``); ``--task-id`` only the rows a task loaded, which is
allowed only when no other row of those collections would be left with a different embedder.

One transaction: a failure (endpoint down, killed) leaves the store as it was, never half rewritten.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from pgvector.psycopg import register_vector
from pgvector.utils import Vector
from psycopg import sql

from data_pipeline.errors import InvalidInput
from data_pipeline.generation.embedding import Embedder, EmbeddingError
from data_pipeline.vectors.identity import EmbedderIdentity, EmbedderMismatch, collection_states, mismatch, record
from data_pipeline.vectors.store import (
    COLLECTION_TABLE,
    COLLECTIONS,
    EMBEDDING_TABLE,
    connect,
    describe_dsn,
    ensure_schema,
)

BATCH = 500
_KEY_OF = {c.name: key for key, c in COLLECTIONS.items()}


def reembed(dsn: str, embedder: Embedder, *, task_id: str | None = None, batch: int = BATCH) -> dict[str, Any]:
    """Re-embed the rows of ``task_id`` (or, with None, of every collection); a summary per collection."""
    identity = EmbedderIdentity(embedder.name, embedder.dimension)
    owner = json.dumps({"task_id": task_id}) if task_id is not None else None
    e, c = sql.Identifier(EMBEDDING_TABLE), sql.Identifier(COLLECTION_TABLE)
    with connect(dsn) as conn:
        ensure_schema(conn)
        with conn.transaction():
            # our collections only: another application's collection in the same tables is not ours to rewrite
            states = collection_states(conn, COLLECTIONS, lock=True)
            where = sql.SQL("e.collection_id = (SELECT uuid FROM {c} WHERE name = %s)").format(c=c)
            if owner is not None:
                where = sql.SQL("{w} AND e.cmetadata @> %s::jsonb").format(w=where)
            counts: dict[str, int] = {}
            for state in states:
                args: tuple[Any, ...] = (state.name,) if owner is None else (state.name, owner)
                mine = conn.execute(sql.SQL("SELECT count(*) FROM {e} e WHERE {w}").format(e=e, w=where),
                                    args).fetchone()[0]
                if mine == 0:
                    continue
                others = state.rows - mine
                if others and mismatch(state, identity):
                    raise EmbedderMismatch(
                        f"collection {state.name!r} also holds {others} rows not loaded by task {task_id} (other "
                        f"tasks, or added by a client) written by "
                        f"{state.recorded.describe() if state.recorded else 'another embedder'}; re-embedding only "
                        f"this task would mix embedders in one collection: use --all")
                counts[state.name] = mine
            if task_id is not None and not counts:
                raise InvalidInput(f"the vector store {describe_dsn(dsn)} holds no rows of task {task_id}")
            for name in counts:
                args = (name,) if owner is None else (name, owner)
                rows = conn.execute(sql.SQL("SELECT e.id, e.document FROM {e} e WHERE {w} ORDER BY e.id").format(
                    e=e, w=where), args).fetchall()
                for start in range(0, len(rows), batch):
                    _rewrite(conn, embedder, identity, rows[start:start + batch])
            record(conn, [_KEY_OF[n] for n in counts], identity)
    return {
        "success": True,
        "vector_store": describe_dsn(dsn),
        "scope": "all" if task_id is None else f"task {task_id}",
        "embedder": identity.name,
        "dimension": identity.dimension,
        "rows_reembedded": counts,
        "total": sum(counts.values()),
    }


def _rewrite(conn: psycopg.Connection, embedder: Embedder, identity: EmbedderIdentity,
             rows: list[tuple[str, str]]) -> None:
    vectors = embedder.embed([doc or "" for _, doc in rows])
    if len(vectors) != len(rows) or any(len(v) != identity.dimension for v in vectors):
        raise EmbeddingError(f"embedder {identity.name} did not return one {identity.dimension}-dimensional "
                             f"vector per text")
    marker = json.dumps({"embedding_model": identity.name})
    register_vector(conn)
    with conn.cursor() as cur:
        cur.executemany(sql.SQL("UPDATE {e} SET embedding = %s, cmetadata = cmetadata || %s::jsonb "
                                "WHERE id = %s").format(e=sql.Identifier(EMBEDDING_TABLE)),
                        [(Vector(v), marker, row_id) for (row_id, _), v in zip(rows, vectors, strict=True)])
