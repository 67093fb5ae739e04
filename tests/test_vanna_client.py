"""The pipeline's store as a real Vanna client sees it (vanna 0.7.9, ``vanna/pgvector/pgvector.py``).

The pipeline runs offline on the demo database; the queries go through Vanna's ``PG_VectorStore``
only (our code appears in the query path only as the ``OfflineEmbeddings`` adapter).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy.exc

from data_pipeline.generation.embedding import OfflineEmbedder
from data_pipeline.steps import training_load
from data_pipeline.steps.context import StepContext
from data_pipeline.tasks.log import TaskLogger
from data_pipeline.tasks.parameters import TaskParameters
from data_pipeline.vectors.identity import EmbedderMismatch
from data_pipeline.vectors.langchain_embeddings import OfflineEmbeddings
from data_pipeline.vectors.reembed import reembed
from data_pipeline.vectors.store import VectorRow, connect, document_id, ensure_collections, upsert
from tests.vanna_support import (
    TASK_ID,
    collection_metadata,
    generate,
    load,
    row_counts,
    rows,
    sqlalchemy_uri,
    vanna_client,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory, demo_business_uri: str) -> Iterator[Path]:
    yield generate(tmp_path_factory.mktemp("vanna") / TASK_ID, demo_business_uri)


@pytest.fixture
def vector_db(fresh_db_uri: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATA_PIPELINE_VECTOR_DB_URI", fresh_db_uri)
    return fresh_db_uri


def pairs_of(task_dir: Path) -> list[dict[str, str]]:
    return [p for f in sorted(task_dir.glob("*_pair.json")) for p in json.loads(f.read_text(encoding="utf-8"))]


def test_vanna_retrieves_what_the_pipeline_loaded(generated: Path, vector_db: str, tmp_path: Path) -> None:
    assert load(generated, tmp_path / TASK_ID)["status"] == "completed"
    vn = vanna_client(vector_db, OfflineEmbeddings())
    pairs = pairs_of(generated)
    hits = [vn.get_similar_question_sql(p["question"]) for p in pairs]
    found = sum({"question": p["question"], "sql": p["sql"]} in h for p, h in zip(pairs, hits, strict=True))
    assert found == len(pairs)  # every question finds its own pair among the top 5
    ddl = vn.get_related_ddl("服务区 营业额 bss_service_area")
    assert ddl and all(isinstance(d, str) for d in ddl) and any("CREATE TABLE" in d for d in ddl)
    docs = vn.get_related_documentation("服务区")
    assert docs and all(isinstance(d, str) for d in docs)

    data = vn.get_training_data()  # Vanna reads every row and sorts it by the id's suffix
    assert data.groupby("training_data_type").size().to_dict() == {
        k: v for k, v in row_counts(vector_db).items() if k != "error_sql"}
    assert set(data["id"]) == {r["id"] for r in rows(vector_db)}
    sql_rows = data[data["training_data_type"] == "sql"]
    assert sorted(sql_rows["question"]) == sorted(p["question"] for p in pairs)


def test_rows_added_by_vanna_survive_reloads_which_stay_idempotent(generated: Path, vector_db: str,
                                                                   tmp_path: Path) -> None:
    task_dir = tmp_path / TASK_ID
    load(generated, task_dir)
    vn = vanna_client(vector_db, OfflineEmbeddings())
    added = {
        "sql": vn.train(question="一共有多少个服务区？", sql="SELECT count(*) FROM bss_service_area;"),
        "ddl": vn.train(ddl="CREATE TABLE vanna_note (id int PRIMARY KEY, note text);"),
        "documentation": vn.train(documentation="营业额 means the daily revenue of a service area."),
    }
    assert [added[k][-4:] for k in ("sql", "ddl", "documentation")] == ["-sql", "-ddl", "-doc"]
    before = row_counts(vector_db)
    assert load(generated, task_dir)["status"] == "completed"
    assert load(generated, task_dir, batch_size=7)["status"] == "completed"
    assert row_counts(vector_db) == before
    assert set(added.values()) <= {r["id"] for r in rows(vector_db)}
    assert {"question": "一共有多少个服务区？", "sql": "SELECT count(*) FROM bss_service_area;"} in \
        vn.get_similar_question_sql("一共有多少个服务区？")
    assert vn.remove_training_data(added["sql"]) is True
    assert row_counts(vector_db)["sql"] == before["sql"] - 1


def test_remove_training_data_deletes_exactly_one_of_our_rows(generated: Path, vector_db: str,
                                                              tmp_path: Path) -> None:
    load(generated, tmp_path / TASK_ID)
    vn = vanna_client(vector_db, OfflineEmbeddings())
    ours = rows(vector_db)
    suffix = {"sql": "-sql", "ddl": "-ddl", "documentation": "-doc"}
    assert all(r["id"].endswith(suffix[r["collection"]]) and r["meta"]["id"] == r["id"] for r in ours)
    for collection in ("sql", "ddl", "documentation"):
        before = {r["id"] for r in rows(vector_db)}
        victim = next(r["id"] for r in ours if r["collection"] == collection)
        assert vn.remove_training_data(victim) is True
        assert {r["id"] for r in rows(vector_db)} == before - {victim}
    assert vn.remove_training_data("no-such-id-sql") is False


def test_error_sql_rows_are_never_taken_for_question_sql_pairs(generated: Path, vector_db: str,
                                                              tmp_path: Path) -> None:
    load(generated, tmp_path / TASK_ID)
    text = json.dumps({"question": "q", "sql": "SELEC 1"})
    error_id = document_id("error_sql", text)
    assert error_id.endswith("-error") and not error_id.endswith("sql")
    with connect(vector_db) as conn:
        ids = ensure_collections(conn, ["error_sql"])
        upsert(conn, [VectorRow(error_id, "error_sql", OfflineEmbedder().embed_one(text), text, {"id": error_id})], ids)
    vn = vanna_client(vector_db, OfflineEmbeddings())
    assert error_id not in set(vn.get_training_data()["id"])
    assert vn.remove_collection("sql") is True  # Vanna deletes by id LIKE '%sql'
    assert row_counts(vector_db)["sql"] == 0 and row_counts(vector_db)["error_sql"] == 1


def test_another_embedder_is_refused_naming_both_until_the_store_is_reembedded(generated: Path, vector_db: str,
                                                                              tmp_path: Path) -> None:
    task_dir = tmp_path / TASK_ID
    load(generated, task_dir)
    meta = collection_metadata(vector_db)
    assert meta["sql"]["embedder"] == {"name": "offline-ngram-v1-1024", "dimension": 1024}
    question = pairs_of(generated)[0]["question"]
    with pytest.raises(sqlalchemy.exc.DataError, match="different vector dimensions 1024 and 384"):
        vanna_client(vector_db, OfflineEmbeddings(384)).get_similar_question_sql(question)
    vanna_id = vanna_client(vector_db, OfflineEmbeddings()).train(question="有几个路段？",
                                                                  sql="SELECT count(*) FROM bss_section_route;")
    small = OfflineEmbedder(384)
    ctx = StepContext(task_dir=task_dir, params=TaskParameters(), embedder_override=small,
                      log=TaskLogger(task_dir=task_dir, task_id=None, store=None))
    with pytest.raises(EmbedderMismatch) as err:
        training_load.run(ctx)
    assert "offline-ngram-v1-1024 (1024-dimensional vectors)" in err.value.message
    assert "offline-ngram-v1-384 (384-dimensional vectors)" in err.value.message
    assert "reembed" in err.value.message
    before = row_counts(vector_db)
    with pytest.raises(EmbedderMismatch, match="--all"):  # Vanna's row in 'sql' is no row of the task
        reembed(vector_db, small, task_id=TASK_ID)
    assert {r["dims"] for r in rows(vector_db)} == {1024}

    result = reembed(vector_db, small)
    assert result["total"] == sum(before.values()) and result["dimension"] == 384
    assert row_counts(vector_db) == before and {r["dims"] for r in rows(vector_db)} == {384}
    assert collection_metadata(vector_db)["ddl"]["embedder"] == {"name": "offline-ngram-v1-384", "dimension": 384}
    vn = vanna_client(vector_db, OfflineEmbeddings(384))
    assert pairs_of(generated)[0] in vn.get_similar_question_sql(question)
    assert vanna_id in set(vn.get_training_data()["id"])
    assert training_load.run(ctx).status == "completed"
    assert row_counts(vector_db) == before
    with pytest.raises(EmbedderMismatch, match="offline-ngram-v1-384"):
        training_load.run(StepContext(task_dir=task_dir, params=TaskParameters(),
                                      log=TaskLogger(task_dir=task_dir, task_id=None, store=None)))


def test_reembed_of_one_task_when_only_its_rows_exist(generated: Path, vector_db: str, tmp_path: Path) -> None:
    load(generated, tmp_path / TASK_ID)
    result = reembed(vector_db, OfflineEmbedder(384), task_id=TASK_ID)
    assert result["rows_reembedded"] == {k: v for k, v in row_counts(vector_db).items() if v}
    assert {r["meta"]["embedding_model"] for r in rows(vector_db)} == {"offline-ngram-v1-384"}


def run_cli(*args: str, uri: str) -> tuple[int, dict]:
    env = {**os.environ, "DATA_PIPELINE_VECTOR_DB_URI": uri,
           "PYTHONPATH": f"{ROOT / 'include'}{os.pathsep}{ROOT / 'plugins'}"}
    for name in ("DATA_PIPELINE_EMBEDDING_BASE_URL", "AIRFLOW_CONN_EMBEDDING_DEFAULT"):
        env.pop(name, None)
    proc = subprocess.run([sys.executable, "-m", "data_pipeline", "reembed", *args], env=env, capture_output=True,
                          text=True, timeout=300)
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {"stderr": proc.stderr}


def test_reembed_command_prints_json(generated: Path, vector_db: str, tmp_path: Path) -> None:
    load(generated, tmp_path / TASK_ID)
    code, doc = run_cli("--all", uri=vector_db)
    assert code == 0 and doc["success"] is True and doc["embedder"] == "offline-ngram-v1-1024"
    assert doc["total"] == sum(row_counts(vector_db).values())
    code, doc = run_cli("--task-id", "task_20000101_000000", uri=vector_db)
    assert code == 2 and doc["success"] is False and "holds no rows of task task_20000101_000000" in doc["message"]
    code, doc = run_cli(uri=vector_db)
    assert code == 2 and "--task-id" in doc["stderr"]


def readme_snippet() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Use the training data with Vanna", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_snippet_runs_against_a_loaded_store(generated: Path, vector_db: str, tmp_path: Path) -> None:
    load(generated, tmp_path / TASK_ID)
    code = readme_snippet()
    placeholder = "postgresql+psycopg://user:pass@host:5432/vectors"
    assert placeholder in code
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.replace(placeholder, sqlalchemy_uri(vector_db)), "README.md", "exec"), {})
    printed = out.getvalue().splitlines()
    questions = {p["question"]: p["sql"] for p in pairs_of(generated)}
    first_q, first_sql = printed[0].split(" -> ", 1)
    assert questions[first_q] == first_sql
    assert "CREATE" in out.getvalue()


class RenamedEmbedder:
    """Another model with the same vector length: pgvector would compare its vectors without complaint."""

    name = "openai:other-model"
    dimension = 1024

    def embed(self, texts: list[str]) -> list[list[float]]:
        return OfflineEmbedder().embed([t[::-1] for t in texts])


def test_a_model_of_the_same_dimension_is_refused_too(generated: Path, vector_db: str, tmp_path: Path) -> None:
    task_dir = tmp_path / TASK_ID
    load(generated, task_dir)
    before = rows(vector_db)
    ctx = StepContext(task_dir=task_dir, params=TaskParameters(), embedder_override=RenamedEmbedder(),
                      log=TaskLogger(task_dir=task_dir, task_id=None, store=None))
    with pytest.raises(EmbedderMismatch, match=r"offline-ngram-v1-1024 \(1024-dimensional vectors\).*"
                                               r"truncate_vector_tables") as err:
        training_load.run(ctx)
    assert "this load's openai:other-model (1024-dimensional vectors)" in err.value.message
    assert rows(vector_db) == before
