"""sql_validation split into batches (as Airflow maps them onto workers) gives the same result as one run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_pipeline.schema import demo_db
from data_pipeline.steps import validation
from data_pipeline.steps.context import StepContext
from data_pipeline.tasks.log import TaskLogger
from data_pipeline.tasks.parameters import TaskParameters
from data_pipeline.workflow.pipeline import execute_step


def make_ctx(task_dir: Path, uri: str) -> StepContext:
    params = TaskParameters(db_connection=uri, enable_llm_repair=False, modify_original_file=True)
    return StepContext(task_dir=task_dir, params=params, log=TaskLogger(task_dir=task_dir, task_id=None, store=None))


def write_pairs(task_dir: Path, count: int) -> None:
    pairs = []
    for i in range(count):
        sql = (f"SELECT count(*) FROM bss_company WHERE id > {i};" if i % 10
               else f"SELECT no_such_column_{i} FROM bss_company;")
        pairs.append({"question": f"q{i}", "sql": sql})
    (task_dir / "qs_highway_demo_20250101_000000_pair.json").write_text(json.dumps(pairs, ensure_ascii=False))


@pytest.fixture
def demo_uri(fresh_db_uri: str) -> str:
    demo_db.build_demo_database(fresh_db_uri)
    return fresh_db_uri


def test_batches_then_merge_equal_a_single_run(tmp_path: Path, demo_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validation, "BATCH_PAIRS", 70)
    single, batched = tmp_path / "single", tmp_path / "batched"
    for d in (single, batched):
        d.mkdir()
        write_pairs(d, 200)
    execute_step(make_ctx(single, demo_uri), "sql_validation")

    ctx = make_ctx(batched, demo_uri)
    slices = validation.plan_batches(ctx)
    assert [len(s) for s in slices] == [70, 70, 60]
    for index in (2, 0):
        assert validation.run_batch(ctx, index).items_completed == len(slices[index])
        assert not validation.batches_complete(ctx)
    validation.run_batch(ctx, 1)
    assert validation.batches_complete(ctx)
    merged = execute_step(ctx, "sql_validation", function=validation.merge)
    assert merged.details["valid"] == 180 and merged.details["invalid"] == 20
    assert merged.details["validated_this_run"] == 0  # every verdict came from the batches

    def outputs(d: Path) -> dict[str, object]:
        pair = next(d.glob("qs_*_pair.json"))
        report = json.loads(next(d.glob("sql_validation_*_report.json")).read_text())
        return {"pairs": json.loads(pair.read_text()),
                "items": [(r["index"], r["status"]) for r in report.get("items", report.get("results", []))]}

    assert outputs(batched) == outputs(single)
    assert len(json.loads(next(batched.glob("qs_*_pair.json")).read_text())) == 180
