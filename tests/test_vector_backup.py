"""Vector-table backup and restore: CSV files in vector_bak/, restore in one transaction."""

from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from data_pipeline.errors import InvalidInput, NotFound, UnsafePath
from data_pipeline.generation.embedding import OfflineEmbedder
from data_pipeline.vectors.backup import (
    backup_vector_tables,
    list_vector_backups,
    restore_vector_tables,
    validate_backup_name,
)
from data_pipeline.vectors.store import (
    VectorRow,
    connect,
    document_id,
    ensure_collections,
    ensure_schema,
    upsert,
)
from platform_db import embedded

DOCS = {
    "ddl": ["CREATE TABLE bss_company (id integer PRIMARY KEY, company_name varchar(64));\n"
            "COMMENT ON TABLE bss_company IS '公司, 含 \"引号\" 和 逗号';",
            "CREATE TABLE bss_branch (id integer PRIMARY KEY);"],
    "documentation": ["# public.bss_company（公司）\n## Columns\n- company_name - 公司名称\n  多行, \"quoted\""],
    "sql": [json.dumps({"question": "有多少家公司？", "sql": "SELECT COUNT(*) FROM bss_company;"}, ensure_ascii=False)],
}


def fill(uri: str, docs: dict[str, list[str]] = DOCS, task: str = "task_20250101_000001") -> None:
    embedder = OfflineEmbedder(dimension=32)
    with connect(uri) as conn:
        ensure_schema(conn)
        ids = ensure_collections(conn, ["ddl", "documentation", "sql", "error_sql"])
        rows = []
        for collection, texts in docs.items():
            for text, vec in zip(texts, embedder.embed(texts), strict=True):
                doc_id = document_id(collection, text)
                rows.append(VectorRow(doc_id, collection, vec, text, {"id": doc_id, "task_id": task, "n": 1.5}))
        upsert(conn, rows, ids)


def snapshot(uri: str) -> dict[str, Any]:
    with psycopg.connect(uri) as conn:
        collections = conn.execute("SELECT uuid, name, cmetadata::text FROM langchain_pg_collection ORDER BY name")
        embeddings = conn.execute("SELECT id, collection_id, embedding::text, document, cmetadata "
                                  "FROM langchain_pg_embedding ORDER BY id")
        return {"collections": collections.fetchall(), "embeddings": embeddings.fetchall()}


def test_backup_then_restore_gives_back_the_original_rows(fresh_db_uri: str, tmp_path: Path) -> None:
    fill(fresh_db_uri)
    original = snapshot(fresh_db_uri)
    result = backup_vector_tables(tmp_path, fresh_db_uri)
    name = result["backup_name"]
    assert result["rows"] == {"langchain_pg_collection": 4, "langchain_pg_embedding": 4}
    assert result["files"] == [f"vector_bak/langchain_pg_collection_{name}.csv",
                               f"vector_bak/langchain_pg_embedding_{name}.csv"]
    log = (tmp_path / result["log_file"]).read_text(encoding="utf-8")
    assert "langchain_pg_embedding: 4 rows" in log and result["tables"]["langchain_pg_embedding"]["sha256"] in log
    header = (tmp_path / result["files"][1]).read_text(encoding="utf-8").splitlines()[0]
    assert header == "id,collection_id,embedding,document,cmetadata"

    with psycopg.connect(fresh_db_uri) as conn:  # damage: delete, change, add, drop a collection
        conn.execute("DELETE FROM langchain_pg_embedding WHERE id LIKE '%-sql'")
        conn.execute("UPDATE langchain_pg_embedding SET document = 'changed', cmetadata = '{}'")
        conn.execute("DELETE FROM langchain_pg_collection WHERE name = 'error_sql'")
    fill(fresh_db_uri, {"ddl": ["CREATE TABLE added_later (id int);"]})
    assert snapshot(fresh_db_uri) != original

    restored = restore_vector_tables(tmp_path, name, fresh_db_uri)
    assert snapshot(fresh_db_uri) == original
    assert restored["rows_in_backup"] == {"langchain_pg_collection": 4, "langchain_pg_embedding": 4}
    assert restored["rows_after"] == {"langchain_pg_collection": 4, "langchain_pg_embedding": 4}
    assert list_vector_backups(tmp_path)[0]["backup_name"] == name


def test_merge_restore_keeps_newer_rows_and_brings_back_the_backed_up_ones(fresh_db_uri: str, tmp_path: Path) -> None:
    fill(fresh_db_uri)
    original = {row[0]: row for row in snapshot(fresh_db_uri)["embeddings"]}
    name = backup_vector_tables(tmp_path, fresh_db_uri)["backup_name"]
    with psycopg.connect(fresh_db_uri) as conn:  # the tables are recreated: collections get new uuids
        conn.execute("DROP TABLE langchain_pg_embedding, langchain_pg_collection")
    fill(fresh_db_uri, {"sql": [json.dumps({"question": "新问题", "sql": "SELECT 2;"}, ensure_ascii=False)]})
    restore_vector_tables(tmp_path, f"backup_{name}", fresh_db_uri, mode="merge")
    rows = snapshot(fresh_db_uri)
    now = {row[0]: row for row in rows["embeddings"]}
    assert set(now) == set(original) | {document_id("sql", json.dumps({"question": "新问题", "sql": "SELECT 2;"},
                                                                      ensure_ascii=False))}
    uuids = {name: uid for uid, name, _ in rows["collections"]}
    for doc_id, row in original.items():  # same content, attached to today's collection of the same name
        assert now[doc_id][2:] == row[2:]
        assert now[doc_id][1] == uuids[doc_id.rsplit("-", 1)[1].replace("doc", "documentation")]


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str]]:
    """One database and one pristine backup shared by the malformed-file cases (none may change it)."""
    name = f"dp_vbak_{os.getpid()}_{secrets.token_hex(4)}"
    uri = embedded.ensure_database(name)
    fill(uri)
    folder = tmp_path_factory.mktemp("pristine")
    backup = backup_vector_tables(folder, uri)["backup_name"]
    fill(uri, {"ddl": ["CREATE TABLE added_later (id int);"]})
    yield uri, folder, backup
    embedded.drop_database(name)


@pytest.mark.parametrize("damage", ["bad_vector", "short_row", "bad_header", "unknown_collection", "duplicate_id"])
def test_a_malformed_backup_is_reported_and_changes_nothing(backed_up: tuple[str, Path, str], tmp_path: Path,
                                                            damage: str) -> None:
    uri, pristine, name = backed_up
    shutil.copytree(pristine / "vector_bak", tmp_path / "vector_bak")
    before = snapshot(uri)
    path = tmp_path / "vector_bak" / f"langchain_pg_embedding_{name}.csv"
    with open(path, newline="", encoding="utf-8") as handle:
        records = list(csv.reader(handle))  # documents span several lines: edit records, not lines
    tail = ""
    if damage == "bad_vector":
        records[2][2] = "[oops,1]"
        expected = r"langchain_pg_embedding_\d{8}_\d{6}\.csv is malformed: .*vector.*\(COPY .*line \d+"
    elif damage == "short_row":
        tail = "only-an-id\n"
        expected = r"is malformed: missing data for column"
    elif damage == "bad_header":
        records[0] = records[0][:-1]
        expected = r"has header 'id,collection_id,embedding,document'; expected"
    elif damage == "unknown_collection":
        records[1][1] = "00000000-0000-0000-0000-000000000000"
        expected = "refers to a collection that is not in the collection backup"
    else:
        records.append(records[1])
        expected = "more than once"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(records)
        handle.write(tail)
    for mode in ("replace", "merge"):
        with pytest.raises(InvalidInput, match=expected):
            restore_vector_tables(tmp_path, name, uri, mode=mode)  # type: ignore[arg-type]
        assert snapshot(uri) == before


@pytest.mark.parametrize("name", ["../vector_bak/20250101_000000", "/etc/passwd", "20250101_000000/../../x",
                                  "20250101_000000\x00", "", "20250101_000000.csv", "*", "20250101_000000;DROP",
                                  "backup_../../20250101_000000"])
def test_hostile_backup_names_are_rejected(name: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="invalid vector backup name"):
        restore_vector_tables(tmp_path, name, "postgresql:///never-used")


def test_missing_files_and_symlinks_are_refused(fresh_db_uri: str, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="vector backup file not found"):
        restore_vector_tables(tmp_path, "20250101_000000", fresh_db_uri)
    fill(fresh_db_uri)
    name = backup_vector_tables(tmp_path, fresh_db_uri)["backup_name"]
    target = tmp_path / "vector_bak" / f"langchain_pg_collection_{name}.csv"
    outside = tmp_path / "outside.csv"
    target.rename(outside)
    os.symlink(outside, target)
    with pytest.raises(UnsafePath, match="not a regular file"):
        restore_vector_tables(tmp_path, name, fresh_db_uri)
    assert validate_backup_name(f"backup_{name}.log") == name


def test_two_backups_in_one_second_get_distinct_names(fresh_db_uri: str, tmp_path: Path) -> None:
    fill(fresh_db_uri)
    names = {backup_vector_tables(tmp_path, fresh_db_uri)["backup_name"] for _ in range(3)}
    assert len(names) == 3
    listed = list_vector_backups(tmp_path)
    assert {b["backup_name"] for b in listed} == names and all(b["complete"] for b in listed)
