"""Which embedder wrote a collection, recorded in the collection's ``cmetadata`` json.

A similarity search compares the query vector with the stored ones, so every row of a collection and
every client reading it must use the same embedder. pgvector only notices a different *length*
(``different vector dimensions 1024 and 384``, raised in the reader's query); a different model of
the same length silently returns nonsense. So each collection records
``{"embedder": {"name": ..., "dimension": ...}}`` in ``langchain_pg_collection.cmetadata`` (the
field langchain-postgres keeps for collection metadata and never rewrites for an existing
collection), and a load with another embedder is refused before anything is written; a load records
its embedder after writing.

A collection written before this record existed (or only by a Vanna client) has no record: its
rows' vector length is compared instead, and the first load records its embedder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from data_pipeline.errors import InvalidInput
from data_pipeline.vectors.store import COLLECTION_TABLE, COLLECTIONS, EMBEDDING_TABLE

IDENTITY_KEY = "embedder"
REEMBED_HINT = "python -m data_pipeline reembed --all"


@dataclass(frozen=True)
class EmbedderIdentity:
    name: str
    dimension: int

    def describe(self) -> str:
        return f"{self.name} ({self.dimension}-dimensional vectors)"

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "dimension": self.dimension}


class EmbedderMismatch(InvalidInput):
    error_code = "EMBEDDER_MISMATCH"


@dataclass(frozen=True)
class CollectionState:
    name: str
    recorded: EmbedderIdentity | None
    rows: int
    stored_dimension: int | None  # of one sampled row; None when empty


def _identity(meta: object) -> EmbedderIdentity | None:
    if not isinstance(meta, dict):
        return None
    value = meta.get(IDENTITY_KEY)
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    try:
        return EmbedderIdentity(value["name"], int(value["dimension"]))
    except (KeyError, TypeError, ValueError):
        return None


def collection_states(conn: psycopg.Connection, names: Iterable[str], *, lock: bool = False) -> list[CollectionState]:
    """Recorded identity, row count and stored vector length of each existing collection in ``names``."""
    wanted = sorted({COLLECTIONS[n].name if n in COLLECTIONS else n for n in names})
    query = sql.SQL(
        "SELECT c.name, c.cmetadata, (SELECT count(*) FROM {e} e WHERE e.collection_id = c.uuid), "
        "(SELECT vector_dims(e.embedding) FROM {e} e WHERE e.collection_id = c.uuid AND e.embedding IS NOT NULL "
        "LIMIT 1) FROM {c} c WHERE c.name = ANY(%s) ORDER BY c.name" + (" FOR UPDATE OF c" if lock else "")
    ).format(e=sql.Identifier(EMBEDDING_TABLE), c=sql.Identifier(COLLECTION_TABLE))
    return [CollectionState(name, _identity(meta), int(rows), dim)
            for name, meta, rows, dim in conn.execute(query, (wanted,)).fetchall()]


def mismatch(state: CollectionState, wanted: EmbedderIdentity) -> str | None:
    """Why ``wanted`` may not write into this collection, or None. Empty collections take any embedder."""
    if state.rows == 0:
        return None
    if state.recorded is not None and state.recorded != wanted:
        return f"collection {state.name!r} holds {state.recorded.describe()}"
    if state.stored_dimension is not None and state.stored_dimension != wanted.dimension:
        who = state.recorded.name if state.recorded else "an unrecorded embedder"
        return f"collection {state.name!r} holds {state.stored_dimension}-dimensional vectors of {who}"
    return None


def record(conn: psycopg.Connection, names: Iterable[str], identity: EmbedderIdentity) -> None:
    """Write ``identity`` into the collections' metadata, keeping any other keys a client stored there."""
    conn.execute(sql.SQL(
        "UPDATE {c} SET cmetadata = (COALESCE(cmetadata::jsonb, '{{}}'::jsonb) || %s::jsonb)::json WHERE name = ANY(%s)"
    ).format(c=sql.Identifier(COLLECTION_TABLE)),
        (json.dumps({IDENTITY_KEY: identity.to_json()}), sorted({COLLECTIONS[n].name for n in names})))


def check_collections(conn: psycopg.Connection, names: Iterable[str], name: str,
                      dimension: Callable[[], int]) -> None:
    """Refuse a load whose embedder differs from the one that wrote ``names``.

    ``dimension`` is called only when a collection holds rows: an endpoint of unknown dimension is
    then asked once, never for a load into an empty store.
    """
    states = [s for s in collection_states(conn, names) if s.rows]
    if not states:
        return
    identity = EmbedderIdentity(name, dimension())
    problems = [p for s in states if (p := mismatch(s, identity))]
    if problems:
        raise EmbedderMismatch(
            f"the vector store was written by another embedder than this load's {identity.describe()}: "
            + "; ".join(problems) + ". Load with truncate_vector_tables (the old rows are backed up first), "
            f"configure the embedder used before, or rewrite the store with the configured embedder: "
            f"{REEMBED_HINT}")
