"""training_load: documents from the task directory into the pgvector store Vanna reads.

Real PostgreSQL (a fresh database with pgvector per test), real files, the offline embedder unless a
test says otherwise; everything through ``workflow.execute_step`` or the step function itself.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest

from data_pipeline.errors import InvalidInput, StepFailed
from data_pipeline.generation.embedding import EmbeddingError, OfflineEmbedder
from data_pipeline.schema import demo_db
from data_pipeline.steps import training_load
from data_pipeline.steps.context import StepContext
from data_pipeline.tasks.log import TaskLogger
from data_pipeline.tasks.parameters import TaskParameters
from data_pipeline.vectors.training_docs import collect_documents, ddl_documents, markdown_sections, split_sql
from data_pipeline.workflow.pipeline import execute_step
from platform_db import embedded
from tests.fake_openai import FakeOpenAI

csv.field_size_limit(1 << 30)


# -- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture
def vector_db(fresh_db_uri: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATA_PIPELINE_VECTOR_DB_URI", fresh_db_uri)
    return fresh_db_uri


@pytest.fixture(scope="module")
def demo_outputs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Steps 1 and 2 run for real on the demo database; tests copy the resulting directory."""
    name = f"dp_tl_demo_{os.getpid()}_{secrets.token_hex(4)}"
    uri = embedded.ensure_database(name, extensions=())
    demo_db.build_demo_database(uri, days=14)
    task_dir = tmp_path_factory.mktemp("demo") / "task_20250721_083557"
    task_dir.mkdir()
    (task_dir / "table_list.txt").write_text("\n".join(demo_db.DEMO_TABLES) + "\n", encoding="utf-8")
    ctx = StepContext(task_dir=task_dir, params=TaskParameters(db_connection=uri, themes=3, questions_per_theme=4),
                      log=TaskLogger(task_dir=task_dir, task_id=None, store=None))
    execute_step(ctx, "ddl_generation")
    execute_step(ctx, "qa_generation")
    yield task_dir
    embedded.drop_database(name)


def copy_task(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".state", "*.log", "*_result.json"))
    return target


def make_ctx(task_dir: Path, *, embedder: Any = None, **params: Any) -> StepContext:
    return StepContext(task_dir=task_dir, params=TaskParameters(**params),
                       log=TaskLogger(task_dir=task_dir, task_id=None, store=None), embedder_override=embedder)


def write_task(task_dir: Path, tables: Sequence[str], *, questions: int = 3) -> Path:
    """Realistic step 1-2 outputs for ``tables`` (DDL with comments, detail docs, pairs, theme metadata)."""
    task_dir.mkdir(parents=True, exist_ok=True)
    pairs = []
    for table in tables:
        (task_dir / f"{table}.ddl").write_text(
            f"-- public.{table}: {table} 表\n-- Estimated rows: 120\n"
            f"CREATE TABLE {table} (\n    id integer NOT NULL,\n    name character varying(64) NOT NULL,\n"
            f"    amount numeric(12,2),\n    note text DEFAULT 'a;b',\n"
            f"    CONSTRAINT {table}_pkey PRIMARY KEY (id)\n);\n"
            f"COMMENT ON TABLE {table} IS '{table} 业务表';\nCOMMENT ON COLUMN {table}.name IS '名称; 简称';\n"
            f"COMMENT ON COLUMN {table}.amount IS '金额';\n", encoding="utf-8")
        (task_dir / f"{table}_detail.md").write_text(
            f"# public.{table}（{table} 业务表）\n\nEstimated rows: 120\n\n## Columns\n\n"
            f"- id (integer) - 主键 [primary key, not null]\n- name (character varying(64)) - 名称 [not null] "
            f"sample values: 南城服务区, 北城服务区\n- amount (numeric(12,2)) - 金额\n\n## Enum values\n\n"
            f"- name (distinct values): 南城服务区, 北城服务区\n", encoding="utf-8")
        pairs += [{"question": f"{table} 第{i}个问题：金额合计是多少？",
                   "sql": f"SELECT SUM(amount) AS \"金额合计\" FROM {table} WHERE id > {i};"} for i in range(questions)]
    (task_dir / "qs_demo_20250721_083557_pair.json").write_text(json.dumps(pairs, ensure_ascii=False, indent=2),
                                                                encoding="utf-8")
    (task_dir / "metadata_detail.md").write_text(
        "# 业务主题\n\n## 1. 营业分析\n\n基于营业数据统计金额。\n\n- **相关表**: " + ", ".join(tables) + "\n",
        encoding="utf-8")
    return task_dir


def store_rows(uri: str) -> list[dict[str, Any]]:
    with psycopg.connect(uri) as conn:
        rows = conn.execute(
            "SELECT e.id, c.name, e.document, e.cmetadata, vector_dims(e.embedding) FROM langchain_pg_embedding e "
            "JOIN langchain_pg_collection c ON c.uuid = e.collection_id ORDER BY e.id").fetchall()
    return [{"id": r[0], "collection": r[1], "document": r[2], "meta": r[3], "dims": r[4]} for r in rows]


def by_collection(rows: list[dict[str, Any]], task: str | None = None) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        if task is None or row["meta"].get("task_id") == task:
            counts[row["collection"]] = counts.get(row["collection"], 0) + 1
    return counts


class CountingEmbedder:
    """The offline embedder, counting texts; optionally failing like a dead endpoint after N calls."""

    def __init__(self, *, fail_on_call: int | None = None, reject: str | None = None, dimension: int = 1024) -> None:
        self.inner = OfflineEmbedder(dimension)
        self.name = self.inner.name
        self.dimension = dimension
        self.calls = 0
        self.texts: list[str] = []
        self.fail_on_call = fail_on_call
        self.reject = reject

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        if self.fail_on_call is not None and self.calls >= self.fail_on_call:
            raise EmbeddingError("embedding endpoint unreachable (simulated)")
        if self.reject and any(self.reject in t for t in texts):
            raise EmbeddingError("HTTP 400: input too long (simulated)", status=400, fatal=False)
        self.texts.extend(texts)
        return self.inner.embed(texts)


# -- end to end on the demo database ------------------------------------------------------------


def test_load_after_steps_1_and_2_on_the_demo_db(demo_outputs: Path, vector_db: str, tmp_path: Path) -> None:
    task_dir = copy_task(demo_outputs, tmp_path / "task_20250721_083557")
    result = execute_step(make_ctx(task_dir), "training_load")
    rows = store_rows(vector_db)
    counts = by_collection(rows)
    tables = len(demo_db.DEMO_TABLES)
    assert counts["ddl"] == tables  # one document per table: CREATE TABLE with its COMMENT ON and ALTER TABLE
    pair_file = next(task_dir.glob("qs_*_pair.json"))
    pairs = json.loads(pair_file.read_text(encoding="utf-8"))
    assert counts["sql"] == len({(p["question"], p["sql"]) for p in pairs})
    assert counts["documentation"] >= 2 * tables  # several heading sections per _detail.md
    assert result.items_total == result.items_completed == len(rows)
    saved = json.loads((task_dir / "training_load_result.json").read_text(encoding="utf-8"))
    assert saved["details"]["task_rows"] == {**counts, "error_sql": 0}
    assert saved["details"]["loaded_this_run"]["sql"] == {"inserted": counts["sql"], "updated": 0}

    for row in rows:
        meta = row["meta"]
        assert meta["id"] == row["id"] and meta["task_id"] == task_dir.name and row["dims"] == 1024
        # Vanna tells the kind of a row by the id suffix in cmetadata->>'id'
        suffix = {"ddl": "-ddl", "documentation": "-doc", "sql": "-sql"}[row["collection"]]
        assert row["id"].endswith(suffix)
        assert (task_dir / meta["source"]).is_file()
    ddl_doc = next(r["document"] for r in rows if r["meta"].get("table") == "public.bss_service_area")
    assert ddl_doc.startswith("-- public.bss_service_area") and "CREATE TABLE bss_service_area" in ddl_doc
    assert "COMMENT ON COLUMN bss_service_area.service_area_name" in ddl_doc and "FOREIGN KEY" in ddl_doc
    loaded_pairs = [ast.literal_eval(r["document"]) for r in rows if r["collection"] == "sql"]  # as Vanna reads
    assert {(p["question"], p["sql"]) for p in loaded_pairs} == {(p["question"], p["sql"]) for p in pairs}
    log = (task_dir / "data_pipeline.log").read_text(encoding="utf-8")
    assert f"progress {len(rows)}/{len(rows)} documents" in log

    # A similarity search the way langchain-postgres runs it (cosine distance in one collection) finds
    # each question's own pair among the first three, although the generated questions look much alike.
    embedder = OfflineEmbedder()
    with psycopg.connect(vector_db) as conn:
        for pair in pairs:
            vec = embedder.embed([pair["question"]])[0]
            found = conn.execute(
                "SELECT e.document FROM langchain_pg_embedding e JOIN langchain_pg_collection c "
                "ON c.uuid = e.collection_id WHERE c.name = 'sql' ORDER BY e.embedding <=> %s::vector LIMIT 3",
                (str(vec),)).fetchall()
            assert pair["question"] in [json.loads(doc)["question"] for (doc,) in found]


def test_loading_twice_updates_rows_instead_of_duplicating(vector_db: str, tmp_path: Path) -> None:
    task_dir = write_task(tmp_path / "task_20250101_000001", ["bss_company", "bss_service_area"])
    first = training_load.run(make_ctx(task_dir))
    before = store_rows(vector_db)
    second = training_load.run(make_ctx(task_dir))
    after = store_rows(vector_db)
    assert [r["id"] for r in after] == [r["id"] for r in before]
    assert len(after) == first.items_total == 2 + 2 * 3 + 6 + 1  # ddl, md sections, pairs, metadata section
    assert second.details["loaded_this_run"] == {
        c: {"inserted": 0, "updated": n} for c, n in by_collection(before).items()}
    assert {r["meta"]["load_id"] for r in after} == {second.details["load_id"]} != {first.details["load_id"]}
    assert not second.resumed


def test_counts_are_for_this_task_only(vector_db: str, tmp_path: Path) -> None:
    other = write_task(tmp_path / "task_20250101_000002", ["bss_branch", "bss_car_day_count", "bss_company"])
    training_load.run(make_ctx(other))
    mine = write_task(tmp_path / "task_20250101_000003", ["bss_service_area"], questions=4)
    result = training_load.run(make_ctx(mine))
    # per table: 3 sections of its _detail.md; per task: 1 section of metadata_detail.md
    assert result.details["task_rows"] == {"ddl": 1, "documentation": 3 + 1, "error_sql": 0, "sql": 4}
    assert result.details["store_totals"] == {"ddl": 4, "documentation": (9 + 1) + (3 + 1), "error_sql": 0,
                                              "sql": 9 + 4}
    rows = store_rows(vector_db)
    assert by_collection(rows, "task_20250101_000003") == {"ddl": 1, "documentation": 4, "sql": 4}


def test_truncate_backs_up_first_and_empties_only_the_loaded_collections(vector_db: str, tmp_path: Path) -> None:
    old = write_task(tmp_path / "task_20250101_000004", ["bss_branch", "bss_company"])
    training_load.run(make_ctx(old))
    old_ids = {r["id"] for r in store_rows(vector_db)}
    with psycopg.connect(vector_db) as conn:  # user feedback Vanna keeps in error_sql: not ours to delete
        conn.execute("INSERT INTO langchain_pg_embedding (id, collection_id, embedding, document, cmetadata) "
                     "SELECT 'fb-1-error_sql', uuid, NULL, '{\"question\": \"q\", \"sql\": \"bad\"}', "
                     "'{\"id\": \"fb-1-error_sql\"}' FROM langchain_pg_collection WHERE name = 'error_sql'")

    task_dir = write_task(tmp_path / "task_20250101_000005", ["bss_service_area"])
    result = training_load.run(make_ctx(task_dir, truncate_vector_tables=True))
    backup = result.details["backup"]
    assert backup["truncated_collections"] == ["ddl", "documentation", "sql"]
    assert backup["rows_deleted"] == len(old_ids)
    with open(task_dir / backup["tables"]["langchain_pg_embedding"]["file"], newline="", encoding="utf-8") as handle:
        saved = list(csv.DictReader(handle))
    assert {r["id"] for r in saved} == old_ids | {"fb-1-error_sql"}
    assert all(r["embedding"].startswith("[") for r in saved if r["id"] != "fb-1-error_sql")
    assert (task_dir / backup["log_file"]).is_file()
    assert set(result.outputs) == {*backup["files"], backup["log_file"]}
    rows = store_rows(vector_db)
    assert {r["meta"].get("task_id") for r in rows} == {"task_20250101_000005", None}
    assert "fb-1-error_sql" in {r["id"] for r in rows}


def test_rerun_after_an_interruption_embeds_only_the_remaining_documents(vector_db: str, tmp_path: Path) -> None:
    task_dir = write_task(tmp_path / "task_20250101_000006", ["t_a", "t_b", "t_c"], questions=4)
    total = len(collect_documents(task_dir).documents)
    dying = CountingEmbedder(fail_on_call=3)  # chunks of 4: two chunks get through, then the endpoint dies
    with pytest.raises(EmbeddingError):
        training_load.run(make_ctx(task_dir, embedder=dying, batch_size=4))
    assert len(store_rows(vector_db)) == 8  # the second chunk's write finished while the step was failing

    again = CountingEmbedder()
    result = training_load.run(make_ctx(task_dir, embedder=again, batch_size=4))
    assert len(again.texts) == total - 8
    assert result.resumed and result.already_completed == 8 and result.items_completed == total
    rows = store_rows(vector_db)
    assert len(rows) == total and len({r["id"] for r in rows}) == total
    assert {r["meta"]["load_id"] for r in rows} == {result.details["load_id"]}

    fresh = CountingEmbedder()  # the load finished: the next run is a new load of everything
    assert not training_load.run(make_ctx(task_dir, embedder=fresh, batch_size=4)).resumed
    assert len(fresh.texts) == total


KILLABLE_LOAD = """
import sys, time
from pathlib import Path
from data_pipeline.generation.embedding import OfflineEmbedder
from data_pipeline.tasks.parameters import TaskParameters
from data_pipeline.steps.context import StepContext
from data_pipeline.steps import training_load
from data_pipeline.tasks.log import TaskLogger

class SlowEmbedder(OfflineEmbedder):
    preferred_chunk = 1  # chunks of batch_size (2) documents

    def embed(self, texts):
        time.sleep(0.3)
        return super().embed(texts)

task_dir = Path(sys.argv[1])
training_load.run(StepContext(task_dir=task_dir, params=TaskParameters(batch_size=2), embedder_override=SlowEmbedder(),
                              log=TaskLogger(task_dir=task_dir, task_id=None, store=None)))
"""


def test_rerun_after_kill_9_embeds_only_what_is_not_in_the_store(vector_db: str, tmp_path: Path) -> None:
    task_dir = write_task(tmp_path / "task_20250101_000015", ["t_a", "t_b", "t_c"], questions=3)
    total = len(collect_documents(task_dir).documents)
    env = {**os.environ, "DATA_PIPELINE_VECTOR_DB_URI": vector_db}
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE_LOAD, str(task_dir)], env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            with psycopg.connect(vector_db) as conn:
                if conn.execute("SELECT to_regclass('langchain_pg_embedding')").fetchone()[0] and \
                        conn.execute("SELECT count(*) FROM langchain_pg_embedding").fetchone()[0] >= 4:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, "the load finished before it could be killed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    present = len(store_rows(vector_db))
    assert 4 <= present < total

    again = CountingEmbedder()
    result = training_load.run(make_ctx(task_dir, embedder=again, batch_size=2))
    assert result.resumed and result.already_completed == present
    assert len(again.texts) == total - present
    assert len(store_rows(vector_db)) == result.items_completed == total


def test_documents_that_the_endpoint_rejects_fail_alone(vector_db: str, tmp_path: Path) -> None:
    task_dir = write_task(tmp_path / "task_20250101_000007", ["t_a", "t_b"], questions=3)
    pairs = json.loads((task_dir / "qs_demo_20250721_083557_pair.json").read_text(encoding="utf-8"))
    pairs[1]["question"] += " REJECT"
    (task_dir / "qs_demo_20250721_083557_pair.json").write_text(json.dumps(pairs, ensure_ascii=False),
                                                                encoding="utf-8")
    total = len(collect_documents(task_dir).documents)
    result = training_load.run(make_ctx(task_dir, embedder=CountingEmbedder(reject="REJECT"), batch_size=50))
    assert (result.items_failed, result.items_completed) == (1, total - 1)
    assert result.errors[0]["source"] == "qs_demo_20250721_083557_pair.json"
    assert "input too long" in result.errors[0]["error"]
    assert len(store_rows(vector_db)) == total - 1

    with pytest.raises(StepFailed, match="input too long"):
        execute_step(make_ctx(task_dir, embedder=CountingEmbedder(reject="REJECT"), continue_on_error=False),
                     "training_load")


def test_stale_rows_of_this_task_are_removed_when_its_files_change(vector_db: str, tmp_path: Path) -> None:
    other = write_task(tmp_path / "task_20250101_000008", ["t_other"])
    training_load.run(make_ctx(other))
    task_dir = write_task(tmp_path / "task_20250101_000009", ["t_mine"], questions=3)
    training_load.run(make_ctx(task_dir))
    pair_file = task_dir / "qs_demo_20250721_083557_pair.json"
    pairs = json.loads(pair_file.read_text(encoding="utf-8"))
    pairs[0]["question"] = "重新生成的问题"
    pair_file.write_text(json.dumps(pairs, ensure_ascii=False), encoding="utf-8")
    result = training_load.run(make_ctx(task_dir))
    assert result.details["stale_rows_removed"] == 1
    mine = [json.loads(r["document"])["question"] for r in store_rows(vector_db)
            if r["collection"] == "sql" and r["meta"]["task_id"] == task_dir.name]
    assert sorted(mine) == sorted(p["question"] for p in pairs)
    assert by_collection(store_rows(vector_db), other.name) == {"ddl": 1, "documentation": 4, "sql": 3}


def test_a_different_embedding_dimension_is_refused_unless_truncating(vector_db: str, tmp_path: Path) -> None:
    task_dir = write_task(tmp_path / "task_20250101_000010", ["t_a"])
    training_load.run(make_ctx(task_dir))
    with pytest.raises(InvalidInput, match=r"1024-dimensional.*truncate_vector_tables"):
        training_load.run(make_ctx(task_dir, embedder=OfflineEmbedder(64)))
    result = training_load.run(make_ctx(task_dir, embedder=OfflineEmbedder(64), truncate_vector_tables=True))
    assert result.details["dimension"] == 64
    assert {r["dims"] for r in store_rows(vector_db)} == {64}


def test_openai_compatible_endpoint_end_to_end(vector_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task_dir = write_task(tmp_path / "task_20250101_000011", ["t_a"])
    with FakeOpenAI(api_key="sk-load-test-key", embedding_dim=32) as server:
        monkeypatch.delenv("AIRFLOW_CONN_EMBEDDING_DEFAULT", raising=False)
        monkeypatch.setenv("DATA_PIPELINE_EMBEDDING_BASE_URL", server.base_url)
        monkeypatch.setenv("DATA_PIPELINE_EMBEDDING_API_KEY", "sk-load-test-key")
        monkeypatch.setenv("DATA_PIPELINE_EMBEDDING_MODEL", "fake-embed")
        result = execute_step(make_ctx(task_dir, batch_size=3), "training_load")
        requests = [r for r in server.requests if r.path.endswith("/embeddings")]
    rows = store_rows(vector_db)
    assert result.details["embedder"] == "openai:fake-embed" and {r["dims"] for r in rows} == {32}
    assert {r["meta"]["embedding_model"] for r in rows} == {"openai:fake-embed"}
    assert sum(len(r.body["input"]) for r in requests) == len(rows)
    assert "sk-load-test-key" not in (task_dir / "data_pipeline.log").read_text(encoding="utf-8")
    assert "sk-load-test-key" not in (task_dir / "training_load_result.json").read_text(encoding="utf-8")


# -- bad inputs ---------------------------------------------------------------------------------


def test_malformed_pair_file_is_a_clear_error_and_nothing_is_loaded(vector_db: str, tmp_path: Path) -> None:
    task_dir = write_task(tmp_path / "task_20250101_000012", ["t_a"])
    pair_file = task_dir / "qs_demo_20250721_083557_pair.json"
    pair_file.write_text('[{"question": "q1", "sql": "SELECT 1;"},\n {"question": "q2", "sql": }]', encoding="utf-8")
    with pytest.raises(StepFailed, match=r"qs_demo_20250721_083557_pair.json is not valid JSON: .* line 2"):
        execute_step(make_ctx(task_dir), "training_load")
    saved = json.loads((task_dir / "training_load_result.json").read_text(encoding="utf-8"))
    assert saved["status"] == "failed" and "line 2" in saved["error_message"]

    pair_file.write_text('[{"question": "q1", "sql": "SELECT 1;"}, {"question": "q2"}]', encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"item at index 1 has no 'sql'"):
        training_load.run(make_ctx(task_dir))
    pair_file.write_text('{"question": "q1", "sql": "SELECT 1;"}', encoding="utf-8")
    with pytest.raises(InvalidInput, match="must hold a JSON array"):
        training_load.run(make_ctx(task_dir))
    with psycopg.connect(vector_db) as conn:
        assert conn.execute("SELECT to_regclass('langchain_pg_embedding')").fetchone()[0] is None


def test_an_empty_task_directory_says_what_is_missing(vector_db: str, tmp_path: Path) -> None:
    task_dir = tmp_path / "task_20250101_000013"
    task_dir.mkdir()
    (task_dir / "table_list.txt").write_text("bss_company\n", encoding="utf-8")
    (task_dir / "empty.ddl").write_text("-- nothing here\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"nothing to load in task directory task_20250101_000013: no \.ddl"):
        training_load.run(make_ctx(task_dir))


# -- how files become documents -----------------------------------------------------------------


def test_sql_is_split_per_statement_not_per_line_or_semicolon() -> None:
    text = ("-- 描述: 名称; 编码\nCREATE TABLE \"Bss Area\" (\n  id int DEFAULT 1, -- x; y\n"
            "  note text DEFAULT 'a;b',\n  c text CHECK (c <> $$;$$), d text DEFAULT E'it\\'s;'\n);\n"
            "/* block; comment */\n"
            "COMMENT ON COLUMN public.\"Bss Area\".note IS '备注；说明;';\nBEGIN;\nCREATE TYPE mood AS ENUM ('a;b');\n"
            "COMMIT;\n-- trailing comment only\n")
    statements = split_sql(text)
    assert len(statements) == 3
    assert statements[0].startswith("-- 描述: 名称; 编码\nCREATE TABLE") and statements[0].endswith(");")
    assert statements[1].startswith("/* block; comment */\nCOMMENT ON COLUMN")
    assert statements[2] == "CREATE TYPE mood AS ENUM ('a;b');"
    docs = ddl_documents(text)
    assert [extra for _, extra in docs] == [{"table": "public.Bss Area"}, {}]
    assert "COMMENT ON COLUMN" in docs[0][0]  # comments stay with their table


def test_semicolons_in_function_bodies_strings_and_comments_do_not_split() -> None:
    text = ("CREATE FUNCTION f() RETURNS int AS $fn$ BEGIN RETURN 1; END; $fn$ LANGUAGE plpgsql;\n"
            "/* a; b */ COMMENT ON TABLE t IS E'x\\';y'; -- after; it\n"
            "CREATE VIEW v AS SELECT ';' AS semi, \"a;b\" FROM t;\n")
    statements = split_sql(text)
    assert len(statements) == 3
    assert statements[0].endswith("$fn$ LANGUAGE plpgsql;")
    assert "E'x\\';y'" in statements[1]
    assert statements[2].startswith("CREATE VIEW v") and statements[2].endswith("FROM t;")


def test_markdown_is_split_by_headings_with_parent_headings_kept() -> None:
    md = ("# public.orders（订单）\n\nEstimated rows: 5\n\n## Columns\n\n- id (integer) - 主键\n"
          "```\n# not a heading\n```\n## Enum values\n### status\n- paid, open\n## Empty section\n")
    docs = [text for text, _ in markdown_sections(md)]
    assert docs == [
        "# public.orders（订单）\nEstimated rows: 5",
        "# public.orders（订单）\n## Columns\n- id (integer) - 主键\n```\n# not a heading\n```",
        "# public.orders（订单）\n## Enum values\n### status\n- paid, open",
    ]
    long_md = "# t\n" + "\n".join(f"- column_{i} (text) - 说明 {i}" for i in range(600))
    parts = markdown_sections(long_md, max_chars=2000)
    assert len(parts) > 5 and all(len(p) <= 2000 and p.startswith("# t\n") for p, _ in parts)


def test_identical_documents_are_loaded_once(tmp_path: Path) -> None:
    task_dir = write_task(tmp_path / "task_20250101_000014", ["t_a"], questions=2)
    pairs = json.loads((task_dir / "qs_demo_20250721_083557_pair.json").read_text(encoding="utf-8"))
    (task_dir / "qs_extra_20250721_090000_pair.json").write_text(json.dumps(pairs[:1]), encoding="utf-8")
    collected = collect_documents(task_dir)
    assert collected.duplicates == 1
    assert collected.per_collection["sql"] == 2
    sql_docs = [d.text for d in collected.documents if d.collection == "sql"]
    assert json.loads(sql_docs[0]) == pairs[0]  # Vanna's format: {"question": ..., "sql": ...}


def test_a_dropped_vector_store_connection_is_retried_on_a_new_one(vector_db: str, tmp_path: Path) -> None:
    """The server ends the loader's session between chunks (a restart, a proxy timeout): the write is retried."""

    class DroppingEmbedder(OfflineEmbedder):
        preferred_chunk = 0
        calls = 0

        def embed(self, texts: Sequence[str]) -> list[list[float]]:
            DroppingEmbedder.calls += 1
            if DroppingEmbedder.calls == 3:
                with psycopg.connect(vector_db, autocommit=True, application_name="dropper") as admin:
                    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE application_name = 'data_pipeline' AND datname = current_database()")
            return super().embed(texts)

    task_dir = write_task(tmp_path / "task_20250101_000120", ["bss_company", "bss_service_area"], questions=3)
    result = training_load.run(make_ctx(task_dir, embedder=DroppingEmbedder(), batch_size=2))
    assert result.items_failed == 0 and result.items_completed > 4
    log = (task_dir / "data_pipeline.log").read_text(encoding="utf-8")
    assert "vector store write failed (attempt 1)" in log and "retrying on a new connection" in log
    with psycopg.connect(vector_db) as conn:
        assert conn.execute("SELECT count(*) FROM langchain_pg_embedding").fetchone()[0] == result.items_completed
