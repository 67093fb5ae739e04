"""Task store behaviour on a real PostgreSQL: ids, queries, steps, logs, outputs, claims, retention."""

from __future__ import annotations

import multiprocessing
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from data_pipeline.errors import Conflict, InvalidTaskId, TaskNotFound, TaskRunning
from data_pipeline.tasks.ids import TASK_ID_PATTERN
from data_pipeline.tasks.store import OutputRecord, TaskQuery, TaskStore


@pytest.fixture
def store(fresh_db_uri: str) -> Iterator[TaskStore]:
    s = TaskStore(fresh_db_uri, max_pool_size=16)
    s.migrate()
    yield s
    s.close()


def test_create_and_get_task(store: TaskStore) -> None:
    task = store.create_task(parameters={"table_list": ["a"]}, db_name="shop", business_context="零售",
                             task_name="first", now=datetime(2025, 7, 21, 8, 35, 57))
    assert task.id == "task_20250721_083557"
    assert task.status == "pending" and task.progress == 0 and task.directory_exists
    assert task.step_status == {"ddl_generation": "pending", "qa_generation": "pending",
                                "sql_validation": "pending", "training_load": "pending"}
    again = store.get_task(task.id)
    assert again is not None and again.parameters == {"table_list": ["a"]} and again.business_context == "零售"
    assert store.get_task("task_20990101_000000") is None


def test_same_second_gets_a_suffix(store: TaskStore) -> None:
    now = datetime(2025, 7, 21, 8, 35, 57)
    first = store.create_task(parameters={}, now=now)
    second = store.create_task(parameters={}, now=now)
    assert first.id == "task_20250721_083557"
    assert re.fullmatch(r"task_20250721_083557_[a-z0-9]{4}", second.id)
    manual = store.create_task(parameters={}, created_by="manual", now=now)
    sched = store.create_task(parameters={}, created_by="schedule", now=now)
    assert manual.id == "manual_20250721_083557" and sched.id == "sched_20250721_083557"


def test_an_owner_is_recorded_as_created_by_and_the_kind_keeps_the_prefix(store: TaskStore) -> None:
    now = datetime(2025, 7, 22, 9, 0, 0)
    owned = store.create_task(parameters={}, created_by="api", owner="  alice  ", now=now)
    assert (owned.id, owned.created_by) == ("task_20250722_090000", "alice")
    assert store.create_task(parameters={}, created_by="manual", owner="", now=now).created_by == "manual"
    long_name = store.create_task(parameters={}, owner="x" * 300, now=now)
    assert long_name.created_by == "x" * 256
    assert [t.id for t in store.list_tasks(TaskQuery(created_by="alice")).items] == [owned.id]


def test_explicit_id_is_validated_and_unique(store: TaskStore) -> None:
    with pytest.raises(InvalidTaskId):
        store.create_task(parameters={}, task_id="../../etc")
    store.create_task(parameters={}, task_id="task_20250101_000000")
    with pytest.raises(Conflict, match="already exists"):
        store.create_task(parameters={}, task_id="task_20250101_000000")


def test_thousand_ids_in_parallel_threads_never_collide(store: TaskStore) -> None:
    with ThreadPoolExecutor(16) as pool:
        ids = list(pool.map(lambda _: store.create_task(parameters={}).id, range(1000)))
    assert len(set(ids)) == 1000
    assert all(re.fullmatch(TASK_ID_PATTERN, i) for i in ids)
    with psycopg.connect(store.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM data_pipeline_tasks").fetchone() == (1000,)


def _create_many(args: tuple[str, int]) -> list[str]:
    dsn, count = args
    s = TaskStore(dsn, max_pool_size=2)
    try:
        return [s.create_task(parameters={}, created_by="manual").id for _ in range(count)]
    finally:
        s.close()


def test_thousand_ids_from_parallel_processes_never_collide(store: TaskStore) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(8) as pool:
        batches = pool.map(_create_many, [(store.dsn, 125)] * 8)
    ids = [i for batch in batches for i in batch]
    assert len(ids) == 1000 and len(set(ids)) == 1000


def test_list_filters_paging_sorting(store: TaskStore) -> None:
    base = datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(30):
        t = store.create_task(parameters={}, db_name="a" if i % 2 else "b", task_name=f"name {i}",
                              created_by="api" if i % 3 else "manual", business_context=f"ctx {i}")
        store.update_task(t.id, status="completed" if i % 5 else "failed")
        with store.connection() as conn:
            conn.execute("UPDATE data_pipeline_tasks SET created_at = %s WHERE id = %s",
                         (base + timedelta(hours=i), t.id))
    page = store.list_tasks(TaskQuery(limit=10))
    assert page.total == 30 and len(page.items) == 10
    assert [t.task_name for t in page.items[:3]] == ["name 29", "name 28", "name 27"]
    page2 = store.list_tasks(TaskQuery(limit=10, offset=10))
    assert page2.items[0].task_name == "name 19"
    asc = store.list_tasks(TaskQuery(sort_by="created_at", sort_order="asc", limit=2))
    assert [t.task_name for t in asc.items] == ["name 0", "name 1"]
    failed = store.list_tasks(TaskQuery(status=["failed"]))
    assert failed.total == 6 and all(t.status == "failed" for t in failed.items)
    assert store.list_tasks(TaskQuery(db_name="a")).total == 15
    assert store.list_tasks(TaskQuery(created_by="manual")).total == 10
    assert store.list_tasks(TaskQuery(search="name 1")).total == 11  # 1, 10..19
    assert store.list_tasks(TaskQuery(search="%")).total == 0  # wildcards are literal
    window = store.list_tasks(TaskQuery(created_after=base + timedelta(hours=10),
                                        created_before=base + timedelta(hours=12)))
    assert window.total == 2


def test_steps_progress_and_status_mirror(store: TaskStore) -> None:
    task = store.create_task(parameters={})
    store.init_steps(task.id, ["ddl_generation", "qa_generation"])
    t = store.require_task(task.id)
    assert t.step_status["sql_validation"] == "skipped" and t.step_status["ddl_generation"] == "pending"
    store.update_step(task.id, "ddl_generation", status="running", progress_total=10, progress_done=5, try_number=1)
    t = store.require_task(task.id)
    assert t.current_step == "ddl_generation" and t.progress == 25 and t.step_status["ddl_generation"] == "running"
    store.update_step(task.id, "ddl_generation", status="completed", progress_done=10, result={"tables": 10})
    store.update_step(task.id, "qa_generation", status="failed", error_message="boom")
    steps = {s.step_name: s for s in store.get_steps(task.id)}
    assert steps["ddl_generation"].status == "completed" and steps["ddl_generation"].result == {"tables": 10}
    assert steps["ddl_generation"].duration_seconds is not None
    assert steps["qa_generation"].error_message == "boom"
    assert store.require_task(task.id).progress == 50


def test_logs_and_outputs(store: TaskStore) -> None:
    task = store.create_task(parameters={})
    store.add_logs(task.id, [{"level": "INFO", "message": f"item {i}", "step": "ddl_generation"} for i in range(5)])
    store.add_log(task.id, "ERROR", "bad thing", step="qa_generation", extra={"k": 1})
    logs, total = store.query_logs(task.id)
    assert total == 6 and logs[0].message == "item 0"
    errors, n = store.query_logs(task.id, level=["error"])
    assert n == 1 and errors[0].extra_data == {"k": 1}
    _, n = store.query_logs(task.id, step="ddl_generation", search="item 3")
    assert n == 1
    outs = [OutputRecord(file_type="ddl", file_name="a.ddl", file_path="a.ddl", file_size=3, content_hash="x")]
    store.replace_outputs(task.id, outs)
    store.replace_outputs(task.id, outs)
    assert [o.file_path for o in store.list_outputs(task.id)] == ["a.ddl"]


def test_claim_allows_one_execution_and_respects_limit(store: TaskStore) -> None:
    a = store.create_task(parameters={})
    b = store.create_task(parameters={})
    with ThreadPoolExecutor(20) as pool:
        def attempt(_: int) -> str:
            try:
                store.claim_execution(a.id, max_concurrent=5)
                return "ok"
            except TaskRunning:
                return "running"
        outcomes = list(pool.map(attempt, range(20)))
    assert outcomes.count("ok") == 1 and outcomes.count("running") == 19
    with pytest.raises(Conflict, match="max_concurrent_tasks is 1"):
        store.claim_execution(b.id, max_concurrent=1)
    with pytest.raises(TaskNotFound):
        store.claim_execution("task_20990101_000000", max_concurrent=1)


def test_directory_flag_delete_records_and_retention(store: TaskStore) -> None:
    old = store.create_task(parameters={})
    running = store.create_task(parameters={})
    fresh = store.create_task(parameters={})
    store.update_task(old.id, status="completed")
    store.update_task(running.id, status="in_progress")
    store.update_task(fresh.id, status="completed")
    with store.connection() as conn:
        conn.execute("UPDATE data_pipeline_tasks SET created_at = now() - interval '40 days' WHERE id = ANY(%s)",
                     ([old.id, running.id],))
    assert [t.id for t in store.expired_tasks(30)] == [old.id]
    store.mark_directory_deleted(old.id)
    t = store.require_task(old.id)
    assert t.directory_exists is False and t.updated_at is not None
    store.add_log(old.id, "INFO", "x")
    store.init_steps(old.id, ["ddl_generation"])
    assert store.delete_task_records(old.id)
    with store.connection() as conn:
        for table in ("data_pipeline_task_steps", "data_pipeline_task_logs"):
            n = conn.execute(f"SELECT count(*) AS n FROM {table} WHERE task_id = %s", (old.id,)).fetchone()["n"]
            assert n == 0
        assert conn.execute("SELECT cleanup_old_data_pipeline_tasks(30) AS n").fetchone()["n"] == 0
    assert store.get_task(old.id) is None and store.get_task(running.id) is not None


def test_totals_stay_exact_through_every_change(store: TaskStore) -> None:
    ids = [store.create_task(parameters={}).id for _ in range(120)]
    for task_id in ids[:30]:
        store.update_task(task_id, status="completed")
    for task_id in ids[30:40]:
        store.update_task(task_id, status="failed")
    store.update_task(ids[0], status="completed")  # unchanged status: no double count
    store.delete_task_records(ids[-1])

    def real(statuses: list[str] | None) -> int:
        with store.connection() as conn:
            if statuses:
                return conn.execute("SELECT count(*) AS n FROM data_pipeline_tasks WHERE status = ANY(%s)",
                                    (statuses,)).fetchone()["n"]
            return conn.execute("SELECT count(*) AS n FROM data_pipeline_tasks").fetchone()["n"]

    for statuses in (None, ["completed"], ["failed", "pending"], ["in_progress"]):
        page = store.list_tasks(TaskQuery(status=statuses, limit=5, offset=1))
        assert page.total == real(statuses), statuses
    with store.connection() as conn:
        conn.execute("TRUNCATE data_pipeline_tasks CASCADE")
    assert store.list_tasks(TaskQuery(limit=1, offset=1)).total == 0
    store.create_task(parameters={})
    store.create_task(parameters={})
    assert store.list_tasks(TaskQuery(limit=1)).total == 2


def test_default_listing_reads_the_sort_index(store: TaskStore) -> None:
    """No sort of the whole table per page: the newest 50 of 20,000 come straight from the index."""
    with store.connection() as conn:
        conn.execute("INSERT INTO data_pipeline_tasks (id, status, parameters, created_at) "
                     "SELECT 'task_20250101_000000_' || to_hex(g), 'completed', '{}', "
                     "now() - make_interval(secs => g) FROM generate_series(1, 20000) g")
        conn.execute("ANALYZE data_pipeline_tasks")
    with store.connection() as conn:
        plan = "\n".join(r["QUERY PLAN"] for r in conn.execute(
            "EXPLAIN SELECT id FROM data_pipeline_tasks ORDER BY created_at DESC NULLS LAST, id DESC LIMIT 50"))
        back = "\n".join(r["QUERY PLAN"] for r in conn.execute(
            "EXPLAIN SELECT id FROM data_pipeline_tasks ORDER BY created_at ASC NULLS FIRST, id ASC LIMIT 50"))
    assert "idx_tasks_sort_created_at" in plan and "Sort" not in plan.split("\n")[1]
    assert "Backward" in back and "idx_tasks_sort_created_at" in back
