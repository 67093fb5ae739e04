"""The retrieval smoke check against a real vector store filled by step 4."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_pipeline.generation.embedding import OfflineEmbedder
from data_pipeline.steps import training_load
from data_pipeline.vectors.smoke_check import run_smoke_check
from tests.test_training_load import make_ctx, write_task


@pytest.fixture
def vector_db(fresh_db_uri: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATA_PIPELINE_VECTOR_DB_URI", fresh_db_uri)
    monkeypatch.delenv("DATA_PIPELINE_EMBEDDING_BASE_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_EMBEDDING_DEFAULT", raising=False)
    return fresh_db_uri


def test_stored_questions_find_their_own_pairs(vector_db: str, tmp_path: Path) -> None:
    task_dir = write_task(tmp_path / "task_20250101_000101", ["bss_company", "bss_service_area", "bss_branch"],
                          questions=4)
    training_load.run(make_ctx(task_dir))
    result = run_smoke_check(questions=5, top_k=3)
    assert result.problem is None
    assert len(result.probes) == 5 and all(len(p.top) == 3 for p in result.probes)
    assert result.hits == 5  # the offline embedder ranks a question's own pair first
    assert all(p.top[0]["id"] == p.expected_id and p.expected_id.endswith("-sql") for p in result.probes)
    report = result.as_dict()
    assert report["hits"] == 5 and report["rows"]["sql"] == 12
    assert "5 of 5 stored questions found their own pair in the top 3" in report["summary"]


def test_an_empty_store_or_another_embedder_is_reported_not_searched(vector_db: str, tmp_path: Path) -> None:
    assert "no training load has run" in (run_smoke_check().problem or "")
    task_dir = write_task(tmp_path / "task_20250101_000102", ["bss_company"], questions=2)
    training_load.run(make_ctx(task_dir))
    other = run_smoke_check(embedder=OfflineEmbedder(dimension=64))
    assert other.probes == [] and "loaded by another embedder" in (other.problem or "")
    assert "skipped" in other.summary()
