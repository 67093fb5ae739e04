"""Reliability: PostgreSQL restarts in the middle of sql_validation; the step completes, verdicts unchanged.

The business database and the task store live on a private embedded server of their own, so the
restart (a fast shutdown and start) ends every connection of this test — the task store's pool
checks connections and reconnects; a tracked task exercises that path — and nobody else's.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from data_pipeline.schema.demo_db import build_demo_database
from data_pipeline.steps.state import StepState
from data_pipeline.tasks.store import TaskStore
from data_pipeline.workflow.pipeline import create_task_from_parameters, execute_step, load_context, prepare_task
from platform_db import embedded

pytestmark = [pytest.mark.restarts_postgres, pytest.mark.timeout(180)]

PAIR_NAME = "qs_highway_20250721_083557_pair.json"


def statements(count: int) -> list[dict[str, str]]:
    """``count`` pairs; from the middle on they touch bss_branch (which the test locks), every 13th is invalid."""
    out = []
    for i in range(count):
        if i < count // 3:
            sql = (f"SELECT service_name, SUM(pay_sum) FROM bss_business_day_data WHERE oper_date >= DATE '2024-01-01' "
                   f"+ {i % 300} GROUP BY service_name ORDER BY 2 DESC LIMIT {i % 20 + 1};")
        else:
            sql = (f"SELECT b.classify, COUNT(*) FROM bss_branch b JOIN bss_service_area s ON s.id = b.service_area_id "
                   f"WHERE b.id > {i} GROUP BY b.classify;")
        if i % 13 == 0:
            sql = sql.replace("SUM(pay_sum)", "SUM(pay_total)").replace("COUNT(*)", "COUNT(nosuch)")
        out.append({"question": f"问题 {i}", "sql": sql})
    return out


def run_tracked(store: TaskStore, uri: str, pairs: list[dict[str, str]],
                during: Any = None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A tracked task running step 3 (as the CLI/DAG do); ``during(task_dir)`` runs while it validates."""
    task_id = create_task_from_parameters(store, {"db_connection": uri, "enable_llm_repair": False,
                                                  "modify_original_file": False, "business_context": "高速公路服务区"},
                                          created_by="manual")
    prepared = prepare_task(task_id, execution_mode="step", step_name="sql_validation", store=store)
    task_dir = Path(prepared.task_dir)
    (task_dir / PAIR_NAME).write_text(json.dumps(pairs, ensure_ascii=False), encoding="utf-8")
    ctx = load_context(task_id, store=store)
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = execute_step(ctx, "sql_validation")
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=work)
    worker.start()
    if during is not None:
        during(task_dir)
    worker.join(150)
    assert not worker.is_alive(), "validation did not finish"
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    report = json.loads((task_dir / f"sql_validation_{result.details['stamp']}_report.json").read_text("utf-8"))
    return task_id, result.model_dump(), report


def saved_verdicts(task_dir: Path) -> int:
    """Verdicts saved so far by the running step, read through the state's own API."""
    state = StepState(task_dir, "sql_validation")
    state.load()
    return sum(1 for rec in state.records().values() if rec.status == "completed")


@pytest.fixture
def private_server() -> Iterator[Path]:
    """A second embedded PostgreSQL, only for this test, stopped afterwards."""
    pgdata = embedded.local_dir() / f"pg_restart_test_{os.getpid()}" / "pgdata"
    embedded.server(pgdata)
    yield pgdata
    embedded.stop(pgdata)
    shutil.rmtree(pgdata.parent, ignore_errors=True)


def test_postgres_restart_during_validation_changes_nothing(private_server: Path, data_dir: Path) -> None:
    fresh_db_uri = embedded.ensure_database("business", extensions=(), pgdata=private_server)
    platform_db_uri = embedded.ensure_database("platform", pgdata=private_server)
    build_demo_database(fresh_db_uri)
    store = TaskStore(platform_db_uri)
    store.migrate()
    pairs = statements(3000)
    _, undisturbed, expected = run_tracked(store, fresh_db_uri, pairs)

    restarted: list[float] = []

    def restart_midway(task_dir: Path) -> None:
        # Hold the validation at the first bss_branch statement, so the restart surely lands mid-run.
        blocker = psycopg.connect(fresh_db_uri)
        blocker.execute("LOCK TABLE bss_branch IN ACCESS EXCLUSIVE MODE")
        deadline = time.monotonic() + 60
        while saved_verdicts(task_dir) < len(pairs) // 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert saved_verdicts(task_dir) < len(pairs), "validation finished before the restart"
        started = time.monotonic()
        embedded.restart(private_server)  # ends every session, the lock holder's included
        restarted.append(time.monotonic() - started)
        blocker.close()

    task_id, disturbed, report = run_tracked(store, fresh_db_uri, pairs, during=restart_midway)

    assert restarted, "the server was not restarted"
    assert disturbed["status"] == "completed"
    assert disturbed["details"]["reconnects"] >= 1
    assert disturbed["items_failed"] == 0 and disturbed["items_skipped"] == 0
    assert [(i["status"], i["sqlstate"]) for i in report["items"]] == \
        [(i["status"], i["sqlstate"]) for i in expected["items"]]
    assert (disturbed["details"]["valid"], disturbed["details"]["invalid"]) == \
        (undisturbed["details"]["valid"], undisturbed["details"]["invalid"]) == (3000 - 231, 231)
    assert max(i["attempts"] for i in report["items"]) >= 2  # statements in flight were sent again
    # The task store reconnected through its pool and recorded the outcome.
    steps = {s.step_name: s.status for s in store.get_steps(task_id)}
    assert steps["sql_validation"] == "completed"
    store.close()
