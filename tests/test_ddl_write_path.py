"""The cheap write path of step 1 keeps its promises: atomic files, attempts that count crashes, offline start-up.

Real files, the embedded PostgreSQL server and real subprocesses; a generator that raises a
``BaseException`` stands for ``kill -9`` (nothing in the step may record it as an ordinary failure).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from data_pipeline.files.task_dir import atomic_write_bytes
from data_pipeline.generation import generator, llm
from data_pipeline.generation.offline import OfflineGenerator
from data_pipeline.schema.model import TableComments, TableInfo
from data_pipeline.steps.context import StepContext
from data_pipeline.steps.state import INTERRUPTED, StepState
from data_pipeline.tasks.log import TaskLogger
from data_pipeline.tasks.parameters import TaskParameters
from data_pipeline.workflow.pipeline import execute_step

TABLES = ["alpha", "bravo", "charlie", "delta", "echo"]


class Killed(BaseException):
    """Stands for kill -9."""


class KillsOn(OfflineGenerator):
    """Kills the process whenever it reaches ``table``; counts the tables it described."""

    def __init__(self, table: str | None) -> None:
        self.table = table
        self.described: list[str] = []

    def describe_table(self, table: TableInfo, business_context: str) -> TableComments:
        if table.name == self.table:
            raise Killed
        self.described.append(table.name)
        return super().describe_table(table, business_context)


@pytest.fixture
def small_db(fresh_db_uri: str) -> str:
    with psycopg.connect(fresh_db_uri, autocommit=True) as conn:
        for name in TABLES:  # no comments: every table asks the generator
            conn.execute(f"CREATE TABLE {name} (id integer PRIMARY KEY, label text)")
            conn.execute(f"INSERT INTO {name} SELECT g, 'v' || g FROM generate_series(1, 5) g")
        conn.execute("ANALYZE")
    return fresh_db_uri


def make_ctx(task: Path, uri: str, gen: Any, **params: Any) -> StepContext:
    task.mkdir(parents=True, exist_ok=True)
    (task / "table_list.txt").write_text("\n".join(TABLES) + "\n", encoding="utf-8")
    return StepContext(task_dir=task, params=TaskParameters(db_connection=uri, **params),
                       log=TaskLogger(task_dir=task, task_id=None, store=None), generator_override=gen)


def records(task: Path) -> dict[str, Any]:
    state = StepState(task, "ddl_generation", "batch_0000")
    state.load()
    return state.records()


def test_a_table_that_kills_the_process_every_time_is_skipped_after_max_retries(tmp_path: Path,
                                                                                 small_db: str) -> None:
    task = tmp_path / "task"
    for attempt in (1, 2, 3):
        killer = KillsOn("charlie")
        with pytest.raises(Killed):
            execute_step(make_ctx(task, small_db, killer, max_retries=3), "ddl_generation")
        state = records(task)
        assert (state["public.charlie"].status, state["public.charlie"].attempts) == ("running", attempt)
        assert state["public.charlie"].error == INTERRUPTED
        # Tables after it were never reached: no attempt charged to them.
        assert "public.delta" not in state and "public.echo" not in state
        assert killer.described == (["alpha", "bravo"] if attempt == 1 else [])  # done tables are not redone
        assert not (task / "filename_mapping.txt").exists()

    survivor = KillsOn("charlie")
    result = execute_step(make_ctx(task, small_db, survivor, max_retries=3), "ddl_generation")
    assert (result.status, result.items_completed, result.items_skipped) == ("completed", 4, 1)
    assert survivor.described == ["delta", "echo"]  # charlie is not tried a fourth time
    mapping = (task / "filename_mapping.txt").read_text(encoding="utf-8")
    assert f"# skipped after repeated failures: public.charlie: {INTERRUPTED}" in mapping
    assert "charlie.ddl" not in mapping and not (task / "charlie.ddl").exists()
    log = (task / "data_pipeline.log").read_text(encoding="utf-8")
    assert "public.charlie: skipped, failed 3 times" in log


def test_one_crash_costs_one_attempt_and_the_rerun_finishes_identically(tmp_path: Path, small_db: str) -> None:
    reference = tmp_path / "reference"
    execute_step(make_ctx(reference, small_db, OfflineGenerator()), "ddl_generation")
    task = tmp_path / "task"
    with pytest.raises(Killed):
        execute_step(make_ctx(task, small_db, KillsOn("delta")), "ddl_generation")
    before = records(task)
    assert {k: (r.status, r.attempts) for k, r in before.items()} == {
        "public.alpha": ("completed", 1), "public.bravo": ("completed", 1), "public.charlie": ("completed", 1),
        "public.delta": ("running", 1)}

    result = execute_step(make_ctx(task, small_db, OfflineGenerator()), "ddl_generation")
    after = records(task)
    assert result.resumed and result.already_completed == 3 and result.details["processed"] == 2
    assert all(after[k].completed_at == before[k].completed_at for k in ("public.alpha", "public.bravo"))
    assert (after["public.delta"].status, after["public.delta"].attempts) == ("completed", 2)
    assert (after["public.echo"].status, after["public.echo"].attempts) == ("completed", 1)
    names = sorted(p.name for p in reference.iterdir() if p.suffix in (".ddl", ".md", ".txt"))
    assert names == sorted(p.name for p in task.iterdir() if p.suffix in (".ddl", ".md", ".txt"))
    assert all((task / n).read_bytes() == (reference / n).read_bytes() for n in names if n != "table_list.txt")


def test_recorded_hashes_are_those_of_the_files_on_disk(tmp_path: Path, small_db: str) -> None:
    task = tmp_path / "task"
    execute_step(make_ctx(task, small_db, OfflineGenerator()), "ddl_generation")
    for record in records(task).values():
        assert set(record.outputs) == {f"{record.data['file_stem']}.ddl", f"{record.data['file_stem']}_detail.md",
                                       f".state/schema/{record.data['file_stem']}.json"}
        for rel, digest in record.outputs.items():
            assert hashlib.sha256((task / rel).read_bytes()).hexdigest() == digest


def test_atomic_write_creates_shared_files_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "new" / "folder" / "file.ddl"
    assert atomic_write_bytes(target, b"CREATE TABLE t ();\n", durable=False) is True
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    mtime = target.stat().st_mtime_ns
    assert atomic_write_bytes(target, b"CREATE TABLE t ();\n") is False  # same bytes: untouched
    assert target.stat().st_mtime_ns == mtime
    assert atomic_write_bytes(target, b"CREATE TABLE u ();\n") is True
    assert target.read_bytes() == b"CREATE TABLE u ();\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.ddl"]
    (target.parent / "locked").mkdir()
    with pytest.raises(IsADirectoryError):
        atomic_write_bytes(target.parent / "locked", b"x")
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.ddl", "locked"]


def test_offline_generator_does_not_load_the_llm_client(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATA_PIPELINE_LLM_BASE_URL" and k != "AIRFLOW_CONN_LLM_DEFAULT"}
    code = ("import sys; from data_pipeline.generation.generator import make_generator; g = make_generator(); "
            "import json; print(json.dumps([g.name, sorted(m for m in "
            "('httpx', 'data_pipeline.generation.llm', 'tenacity') "
            "if m in sys.modules)]))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == ["offline", []]
    assert generator.LLM_CONN_ID == llm.LLM_CONN_ID  # the shortcut looks where llm_settings looks


def test_a_configured_llm_is_still_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATA_PIPELINE_LLM_BASE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_LLM_DEFAULT", "http://127.0.0.1:9/v1?model=m")
    assert make_name().startswith("llm:")
    monkeypatch.delenv("AIRFLOW_CONN_LLM_DEFAULT")
    monkeypatch.setenv("DATA_PIPELINE_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    assert make_name().startswith("llm:")
    monkeypatch.setenv("DATA_PIPELINE_LLM_BASE_URL", "  ")
    assert make_name() == "offline"


def make_name() -> str:
    return generator.make_generator().name
