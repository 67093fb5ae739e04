"""The store as langchain-postgres' ``PGVector`` (0.0.19, ``langchain_postgres/vectorstores.py``) reads it.

Metadata filters run as ``jsonb_path_match`` on ``langchain_pg_embedding.cmetadata``: each row we
write carries ``id``, ``task_id``, ``load_id``, ``embedding_model``, ``loaded_at``, ``source`` (the
task file) and, for DDL, ``table``; documentation sections carry ``section``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_postgres.vectorstores import PGVector

from data_pipeline.generation.embedding import OfflineEmbedder
from data_pipeline.vectors.langchain_embeddings import OfflineEmbeddings
from data_pipeline.vectors.reembed import reembed
from tests.vanna_support import TASK_ID, collection_metadata, generate, load, row_counts, rows, sqlalchemy_uri


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory, demo_business_uri: str) -> Iterator[Path]:
    yield generate(tmp_path_factory.mktemp("langchain") / TASK_ID, demo_business_uri)


@pytest.fixture
def vector_db(fresh_db_uri: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATA_PIPELINE_VECTOR_DB_URI", fresh_db_uri)
    return fresh_db_uri


def store(uri: str, collection: str) -> PGVector:
    return PGVector(embeddings=OfflineEmbeddings(), collection_name=collection, connection=sqlalchemy_uri(uri),
                    use_jsonb=True)


def test_similarity_search_with_metadata_filters(generated: Path, vector_db: str, tmp_path: Path) -> None:
    load(generated, tmp_path / TASK_ID)
    sql = store(vector_db, "sql")
    hits = sql.similarity_search("服务区 营业额", k=4, filter={"task_id": TASK_ID})
    assert len(hits) == 4 and all(d.metadata["task_id"] == TASK_ID for d in hits)
    assert all(d.metadata["id"].endswith("-sql") and d.metadata["source"].endswith("_pair.json") for d in hits)
    assert sql.similarity_search("服务区", k=4, filter={"task_id": "task_20000101_000000"}) == []

    table = next(r["meta"]["table"] for r in rows(vector_db) if r["collection"] == "ddl")
    ddl = store(vector_db, "ddl").similarity_search("表", k=10, filter={"table": {"$eq": table}})
    assert len(ddl) == 1 and ddl[0].metadata["table"] == table and "CREATE TABLE" in ddl[0].page_content

    docs = store(vector_db, "documentation").similarity_search(
        "服务区", k=50, filter={"$and": [{"task_id": TASK_ID}, {"source": {"$like": "%_detail.md"}}]})
    expected = sum(1 for r in rows(vector_db) if r["collection"] == "documentation"
                   and r["meta"]["source"].endswith("_detail.md"))
    assert len(docs) == min(expected, 50) and all(d.metadata["source"].endswith("_detail.md") for d in docs)


def test_opening_collections_keeps_the_recorded_embedder_and_client_rows_survive_reloads(
        generated: Path, vector_db: str, tmp_path: Path) -> None:
    task_dir = tmp_path / TASK_ID
    load(generated, task_dir)
    recorded = collection_metadata(vector_db)
    sql = store(vector_db, "sql")  # get_or_create: an existing collection and its cmetadata stay as they are
    assert collection_metadata(vector_db) == recorded
    sql.add_texts(['{"question": "client pair", "sql": "SELECT 1"}'], metadatas=[{"id": "client-1-sql"}],
                  ids=["client-1-sql"])
    before = row_counts(vector_db)
    assert load(generated, task_dir)["status"] == "completed"
    assert row_counts(vector_db) == before
    hits = sql.similarity_search("client pair", k=1, filter={"id": "client-1-sql"})
    assert [d.page_content for d in hits] == ['{"question": "client pair", "sql": "SELECT 1"}']


def test_reembed_leaves_another_applications_collection_alone(generated: Path, vector_db: str,
                                                              tmp_path: Path) -> None:
    load(generated, tmp_path / TASK_ID)
    notes = PGVector(embeddings=OfflineEmbeddings(64), collection_name="notes", connection=sqlalchemy_uri(vector_db))
    notes.add_texts(["收费站 opening hours", "服务区 parking"], ids=["note-1", "note-2"])
    result = reembed(vector_db, OfflineEmbedder(384))
    assert "notes" not in result["rows_reembedded"] and result["total"] == sum(
        n for name, n in row_counts(vector_db).items() if name != "notes")
    assert {r["dims"] for r in rows(vector_db) if r["collection"] == "notes"} == {64}
    assert [d.page_content for d in notes.similarity_search("parking", k=1)] == ["服务区 parking"]
    assert "embedder" not in (collection_metadata(vector_db)["notes"] or {})
