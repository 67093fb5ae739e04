"""A retrieval smoke check of the vector store: do stored questions find their own pairs again?

Run after each training load (the ``training_data_smoke_check`` DAG, scheduled on the asset the load
emits). It takes a few question/SQL rows of the ``sql`` collection, embeds each question with the
configured embedder, and asks the store for the nearest rows by cosine distance, as Vanna does when
it answers a question. A healthy load ranks each question's own pair among the first ``top_k``; a
store written by another embedder (recorded in the collection, or of another vector length) is reported, not searched.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from pgvector.psycopg import register_vector
from pgvector.utils import Vector
from psycopg import sql

from data_pipeline.generation.embedding import Embedder, make_embedder
from data_pipeline.vectors.identity import EmbedderIdentity, collection_states, mismatch
from data_pipeline.vectors.store import (
    COLLECTION_TABLE,
    COLLECTIONS,
    EMBEDDING_TABLE,
    VectorStoreError,
    connect,
    count_rows,
    vector_dsn,
)


@dataclass
class Probe:
    question: str
    expected_id: str
    top: list[dict[str, Any]]  # id and cosine distance of the nearest rows, nearest first

    @property
    def hit(self) -> bool:
        return any(row["id"] == self.expected_id for row in self.top)


@dataclass
class SmokeCheckResult:
    top_k: int
    embedder: str
    rows: dict[str, int] = field(default_factory=dict)
    probes: list[Probe] = field(default_factory=list)
    problem: str | None = None  # why nothing was searched

    @property
    def hits(self) -> int:
        return sum(p.hit for p in self.probes)

    def summary(self) -> str:
        if self.problem:
            return f"retrieval smoke check skipped: {self.problem}"
        return (f"retrieval smoke check: {self.hits} of {len(self.probes)} stored questions found their own pair "
                f"in the top {self.top_k} ({self.embedder})")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hits": self.hits, "summary": self.summary(),
                "probes": [{**asdict(p), "hit": p.hit} for p in self.probes]}


def nearest(conn: Any, collection: str, vector: list[float], k: int) -> list[dict[str, Any]]:
    """The ``k`` rows of ``collection`` nearest to ``vector`` by cosine distance (pgvector's ``<=>``)."""
    rows = conn.execute(sql.SQL(
        "SELECT e.id, e.embedding <=> %s AS distance FROM {e} e JOIN {c} c ON c.uuid = e.collection_id "
        "WHERE c.name = %s ORDER BY distance LIMIT %s"
    ).format(e=sql.Identifier(EMBEDDING_TABLE), c=sql.Identifier(COLLECTION_TABLE)),
        (Vector(vector), COLLECTIONS[collection].name, k)).fetchall()
    return [{"id": row_id, "distance": round(float(distance), 6)} for row_id, distance in rows]


def run_smoke_check(*, questions: int = 5, top_k: int = 3, dsn: str | None = None,
                    embedder: Embedder | None = None) -> SmokeCheckResult:
    """Search the store for ``questions`` of its own stored questions; never writes."""
    embedder = embedder or make_embedder()
    result = SmokeCheckResult(top_k=top_k, embedder=embedder.name)
    sql_name = COLLECTIONS["sql"].name
    with connect(dsn or vector_dsn(), autocommit=True) as conn:
        if conn.execute("SELECT to_regclass(%s)", (EMBEDDING_TABLE,)).fetchone()[0] is None:
            result.problem = "the vector store has no tables yet (no training load has run)"
            return result
        register_vector(conn)
        result.rows = count_rows(conn)
        state = next(iter(collection_states(conn, [sql_name])), None)
        if state is None or state.rows == 0:
            result.problem = "the sql collection holds no question/SQL pairs"
            return result
        problem = mismatch(state, EmbedderIdentity(embedder.name, embedder.dimension))
        if problem:
            result.problem = f"{problem}, not the configured {embedder.name}: it was loaded by another embedder"
            return result
        samples = conn.execute(sql.SQL(
            "SELECT e.id, e.document FROM {e} e JOIN {c} c ON c.uuid = e.collection_id WHERE c.name = %s "
            "ORDER BY e.id LIMIT %s").format(e=sql.Identifier(EMBEDDING_TABLE), c=sql.Identifier(COLLECTION_TABLE)),
            (sql_name, questions)).fetchall()
        pairs = [(row_id, _question(document)) for row_id, document in samples]
        pairs = [(row_id, q) for row_id, q in pairs if q]
        vectors = embedder.embed([q for _, q in pairs]) if pairs else []
        for (row_id, question), vector in zip(pairs, vectors, strict=True):
            result.probes.append(Probe(question=question, expected_id=row_id,
                                       top=nearest(conn, "sql", vector, top_k)))
    if not result.probes:
        result.problem = "no stored pair has a readable question"
    return result


def _question(document: str) -> str:
    """The question of a Vanna ``sql`` document (``{"question", "sql"}`` JSON)."""
    try:
        value = json.loads(document)
    except ValueError:
        return ""
    return str(value.get("question") or "").strip() if isinstance(value, dict) else ""


__all__ = ["Probe", "SmokeCheckResult", "VectorStoreError", "nearest", "run_smoke_check"]
