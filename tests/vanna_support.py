"""Shared by the real-client tests: the pipeline's output on the demo database, loaded into a fresh store.

Steps 1-2 run once per module (offline generator, demo business database); each test loads a copy
into a vector database of its own with ``training_load``. Clients connect with SQLAlchemy's
``postgresql+psycopg://`` form, as a Vanna user would.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import psycopg
from vanna.base import VannaBase
from vanna.pgvector import PG_VectorStore

from data_pipeline.schema import demo_db
from data_pipeline.steps.context import StepContext
from data_pipeline.tasks.log import TaskLogger
from data_pipeline.tasks.parameters import TaskParameters
from data_pipeline.workflow.pipeline import execute_step

TASK_ID = "task_20250721_083557"


def generate(task_dir: Path, business_uri: str) -> Path:
    task_dir.mkdir(parents=True)
    (task_dir / "table_list.txt").write_text("\n".join(demo_db.DEMO_TABLES) + "\n", encoding="utf-8")
    ctx = StepContext(task_dir=task_dir, params=TaskParameters(db_connection=business_uri, themes=2,
                                                                questions_per_theme=3),
                      log=TaskLogger(task_dir=task_dir, task_id=None, store=None))
    execute_step(ctx, "ddl_generation")
    execute_step(ctx, "qa_generation")
    return task_dir


def load(source: Path, target: Path, *, embedder: Any = None, **params: Any) -> dict[str, Any]:
    """``training_load`` on a copy of ``source`` (the copy is reused when it exists); the step's result."""
    if not target.exists():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(".state", "*.log", "*_result.json"))
    ctx = StepContext(task_dir=target, params=TaskParameters(**params), embedder_override=embedder,
                      log=TaskLogger(task_dir=target, task_id=None, store=None))
    result = execute_step(ctx, "training_load")
    return {"status": result.status, "details": result.details}


def sqlalchemy_uri(uri: str) -> str:
    """The form SQLAlchemy (and so Vanna and langchain-postgres) takes: ``postgresql+psycopg://``."""
    assert uri.startswith("postgresql://")
    return "postgresql+psycopg://" + uri.removeprefix("postgresql://")


class NoLLM(VannaBase):
    """VannaBase's LLM methods: retrieval never calls them."""

    def system_message(self, message: str) -> Any:
        raise AssertionError("no LLM in these tests")

    def user_message(self, message: str) -> Any:
        raise AssertionError("no LLM in these tests")

    def assistant_message(self, message: str) -> Any:
        raise AssertionError("no LLM in these tests")

    def submit_prompt(self, prompt: Any, **kwargs: Any) -> str:
        raise AssertionError("no LLM in these tests")


class LocalVanna(PG_VectorStore, NoLLM):
    """How Vanna composes a client: a vector store class plus an LLM class."""


def vanna_client(uri: str, embeddings: Any, n_results: int = 5) -> LocalVanna:
    return LocalVanna(config={"connection_string": sqlalchemy_uri(uri), "embedding_function": embeddings,
                              "n_results": n_results})


def row_counts(uri: str) -> dict[str, int]:
    with psycopg.connect(uri) as conn:
        rows = conn.execute("SELECT c.name, count(e.id) FROM langchain_pg_collection c LEFT JOIN "
                            "langchain_pg_embedding e ON e.collection_id = c.uuid GROUP BY 1 ORDER BY 1").fetchall()
    return dict(rows)


def rows(uri: str) -> list[dict[str, Any]]:
    with psycopg.connect(uri) as conn:
        found = conn.execute("SELECT e.id, c.name, e.document, e.cmetadata, vector_dims(e.embedding) FROM "
                             "langchain_pg_embedding e JOIN langchain_pg_collection c ON c.uuid = e.collection_id "
                             "ORDER BY e.id").fetchall()
    return [{"id": i, "collection": n, "document": d, "meta": m, "dims": dims} for i, n, d, m, dims in found]


def collection_metadata(uri: str) -> dict[str, Any]:
    with psycopg.connect(uri) as conn:
        return {n: (m if not isinstance(m, str) else json.loads(m)) for n, m in
                conn.execute("SELECT name, cmetadata FROM langchain_pg_collection").fetchall()}
