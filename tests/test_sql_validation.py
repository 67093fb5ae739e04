"""Step 3, sql_validation, against the real demo database on the embedded PostgreSQL server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from data_pipeline import clock
from data_pipeline.errors import StepFailed
from data_pipeline.schema.demo_db import DEMO_TABLES, build_demo_database
from data_pipeline.steps.context import StepContext, StepResult
from data_pipeline.steps.state import StepState
from data_pipeline.tasks.log import TaskLogger
from data_pipeline.tasks.parameters import TaskParameters
from data_pipeline.workflow.pipeline import execute_step
from platform_db import embedded
from tests.conftest import PROJECT_ROOT, database_name, new_database
from tests.fake_openai import FakeOpenAI

PAIR_NAME = "qs_highway_20250721_083557_pair.json"
VALID = [
    ("各公司有多少个服务区？", "SELECT c.company_name, COUNT(*) FROM bss_service_area s JOIN bss_company c "
     "ON c.id = s.company_id GROUP BY c.company_name;"),
    ("每类车辆的总车流量是多少？", "SELECT car_type, SUM(customer_count) FROM bss_car_day_count GROUP BY car_type;"),
    ("营业额最高的10个档口？", "SELECT branch_name, SUM(pay_sum) AS total FROM bss_business_day_data "
     "GROUP BY branch_name ORDER BY total DESC LIMIT 10;"),
    ("名称含“南”的服务区？", "SELECT service_area_name FROM bss_service_area WHERE service_area_name LIKE '%南%';"),
]


# -- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_uri() -> Iterator[str]:
    """One demo database for the tests that only read it (building it takes a couple of seconds)."""
    uri = new_database("dp_valid")
    build_demo_database(uri)
    yield uri
    embedded.drop_database(database_name(uri))


def make_ctx(task_dir: Path, uri: str, **params: Any) -> StepContext:
    values = {"db_connection": uri, "enable_llm_repair": False, "modify_original_file": False, **params}
    return StepContext(task_dir=task_dir, params=TaskParameters(**values),
                       log=TaskLogger(task_dir=task_dir, task_id=None, store=None))


def write_pairs(task_dir: Path, pairs: list[Any], name: str = PAIR_NAME) -> Path:
    task_dir.mkdir(parents=True, exist_ok=True)
    path = task_dir / name
    path.write_text(json.dumps(pairs, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def pairs_of(items: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"question": q, "sql": s} for q, s in items]


def advance_clock(monkeypatch: pytest.MonkeyPatch, seconds: int = 2) -> None:
    """Move the clock that stamps file names past the current second, instead of sleeping."""
    later = clock.now() + timedelta(seconds=seconds)
    monkeypatch.setattr(clock, "now", lambda: later)


def report_of(task_dir: Path, result: StepResult) -> dict[str, Any]:
    return json.loads((task_dir / f"sql_validation_{result.details['stamp']}_report.json").read_text("utf-8"))


def table_fingerprints(uri: str) -> dict[str, Any]:
    """Row count and md5 of every demo table, plus the identity sequence of bss_company."""
    with psycopg.connect(uri) as conn:
        out: dict[str, Any] = {
            table: conn.execute(f"SELECT count(*), md5(string_agg(t::text, ',' ORDER BY t::text)) FROM {table} t")
            .fetchone() for table in DEMO_TABLES}
        out["sequence"] = conn.execute("SELECT last_value, is_called FROM bss_company_id_seq").fetchone()
    return out


# -- verdicts -----------------------------------------------------------------------------------


def test_valid_and_invalid_sql_get_verdicts_with_the_servers_messages(tmp_path: Path, demo_uri: str) -> None:
    task = tmp_path / "task"
    items = [*VALID,
             ("不存在的列", "SELECT pay_total FROM bss_business_day_data;"),
             ("不存在的表", "SELECT * FROM bss_area_daily;"),
             ("语法错误", "SELEC service_area_name FROM bss_service_area;"),
             ("类型错误", "SELECT * FROM bss_company WHERE id = 'abc';"),
             ("函数类型错误", "SELECT SUM(service_area_name) FROM bss_service_area;"),
             ("两条语句", "SELECT 1; SELECT 2;")]
    original = write_pairs(task, pairs_of(items)).read_bytes()

    result = execute_step(make_ctx(task, demo_uri), "sql_validation")

    assert result.status == "completed"  # invalid SQL is a result, not a failure
    assert (result.items_total, result.items_completed, result.items_failed) == (10, 10, 0)
    assert (result.details["valid"], result.details["invalid"]) == (4, 6)
    report = report_of(task, result)
    by_index = {item["index"]: item for item in report["items"]}
    assert [by_index[i]["status"] for i in range(10)] == ["valid"] * 4 + ["invalid"] * 6
    assert (by_index[4]["sqlstate"], by_index[4]["error"]) == ("42703", 'column "pay_total" does not exist')
    assert (by_index[5]["sqlstate"], by_index[5]["error"]) == ("42P01", 'relation "bss_area_daily" does not exist')
    assert by_index[6]["sqlstate"] == "42601" and by_index[6]["position"] == 1
    assert 'syntax error at or near "SELEC"' in by_index[6]["error"]
    assert by_index[7]["sqlstate"] == "22P02" and "abc" in by_index[7]["error"]
    assert by_index[8]["sqlstate"] == "42883" and "sum(character varying)" in by_index[8]["error"]
    assert by_index[9]["reason"] == "multiple_statements"
    assert all(item["duration_ms"] >= 0 and item["attempts"] == 1 for item in report["items"])
    assert report["totals"]["total"] == 10 and report["totals"]["success_rate"] == 0.4

    summary = (task / f"sql_validation_{result.details['stamp']}_summary.log").read_text("utf-8")
    assert "valid:            4" in summary and "invalid:          6" in summary and "40.00%" in summary
    assert '#4 INVALID [42703] undefined_column: column "pay_total" does not exist' in summary
    assert "SELECT pay_total FROM bss_business_day_data;" in summary
    assert (task / PAIR_NAME).read_bytes() == original  # modify-original-file off
    assert json.loads((task / "sql_validation_result.json").read_text())["status"] == "completed"
    assert "progress 10/10 SQL statements" in (task / "data_pipeline.log").read_text("utf-8")


@pytest.mark.timeout(90)
def test_destructive_statements_never_change_data(tmp_path: Path, fresh_db_uri: str) -> None:
    build_demo_database(fresh_db_uri)
    with psycopg.connect(fresh_db_uri, autocommit=True) as conn:
        # Planner-time traps: IMMUTABLE functions the planner folds while planning the EXPLAIN.
        conn.execute("CREATE FUNCTION slow_plan() RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT 1 FROM pg_sleep(100)'")
        # Mislabelled IMMUTABLE: planning it in a read-write transaction would advance the sequence.
        conn.execute("CREATE FUNCTION bump_plan() RETURNS int IMMUTABLE LANGUAGE plpgsql AS "
                     "$$BEGIN PERFORM nextval('bss_company_id_seq'); RETURN 1; END$$")
    before = table_fingerprints(fresh_db_uri)
    statements = [
        "DELETE FROM bss_company;",
        "DROP TABLE bss_branch;",
        "SELECT 1; DELETE FROM bss_company;",
        "UPDATE bss_service_area SET deleted = true;",
        "TRUNCATE bss_car_day_count;",
        "INSERT INTO bss_company (company_name, company_no, created_at) VALUES ('x', 'X1', now());",
        "WITH gone AS (DELETE FROM bss_branch RETURNING *) SELECT count(*) FROM gone;",
        "ANALYZE DELETE FROM bss_company;",
        "COMMIT; DELETE FROM bss_company;",
        "SELECT pg_sleep(100);",
        "SELECT nextval('bss_company_id_seq');",
        "SELECT slow_plan();",
        "SELECT bump_plan();",
    ]
    task = tmp_path / "task"
    write_pairs(task, [{"question": f"q{i}", "sql": s} for i, s in enumerate(statements)])

    # pg_sleep(100) is planned, never run: the test's 90 s timeout would catch a sleeping statement.
    result = execute_step(make_ctx(task, fresh_db_uri, sql_timeout_seconds=1), "sql_validation")

    assert table_fingerprints(fresh_db_uri) == before
    items = report_of(task, result)["items"]
    reasons = [(item["status"], item["reason"]) for item in items]
    assert reasons[0] == reasons[3] == reasons[5] == reasons[6] == ("invalid", "modifies_data")
    assert reasons[1] == reasons[4] == reasons[7] == reasons[8] == ("invalid", "syntax_error")
    assert reasons[2] == ("invalid", "multiple_statements")
    assert reasons[9] == reasons[10] == ("valid", None)  # planned, not executed: no sleep, no sequence step
    assert reasons[11] == ("invalid", "timeout") and items[11]["sqlstate"] == "57014"
    assert items[12]["status"] == "invalid" and items[12]["sqlstate"] == "25006"  # read-only transaction
    assert items[12]["error"] == "cannot execute nextval() in a read-only transaction"


# -- modifying the pair file --------------------------------------------------------------------


def test_modify_file_writes_backup_rewritten_file_and_modifications_log(
        tmp_path: Path, demo_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    task = tmp_path / "task"
    pairs = pairs_of([VALID[0], ("错列", "SELECT nosuch FROM bss_company;"), VALID[1],
                      ("错表", "SELECT * FROM no_such_table;"), VALID[2]])
    pairs[2]["source"] = "theme 2"  # extra keys survive the rewrite
    original = write_pairs(task, pairs).read_bytes()

    result = execute_step(make_ctx(task, demo_uri, modify_original_file=True), "sql_validation")

    stamp = result.details["stamp"]
    backup = task / f"{PAIR_NAME}.backup"
    assert backup.read_bytes() == original
    assert json.loads((task / PAIR_NAME).read_text("utf-8")) == [pairs[0], pairs[2], pairs[4]]
    log = (task / f"file_modifications_{stamp}.log").read_text("utf-8")
    assert "REMOVED index 1: 错列" in log and "REMOVED index 3: 错表" in log
    assert '[42703] column "nosuch" does not exist (repair disabled)' in log
    assert "pairs before: 5, after: 3; modified: 0, removed: 2" in log
    assert (result.details["removed"], result.details["modified"]) == (2, 0)
    assert {p.name for p in task.iterdir()} >= {PAIR_NAME, backup.name, f"file_modifications_{stamp}.log",
                                                f"sql_validation_{stamp}_report.json",
                                                f"sql_validation_{stamp}_summary.log"}

    # A new execution validates the cleaned file: nothing to change, the backup keeps the original.
    advance_clock(monkeypatch)  # a different second, so a different <ts>
    again = execute_step(make_ctx(task, demo_uri, modify_original_file=True), "sql_validation")
    assert not again.resumed and again.details["valid"] == 3 and again.details["removed"] == 0
    assert backup.read_bytes() == original
    assert json.loads((task / PAIR_NAME).read_text("utf-8")) == [pairs[0], pairs[2], pairs[4]]
    summaries = sorted(p.name for p in task.glob("sql_validation_*_summary.log"))
    assert summaries == [f"sql_validation_{again.details['stamp']}_summary.log"]  # replaced, not piled up


def test_crash_after_the_rewrite_is_finished_by_the_retry_not_revalidated_as_new_input(
        tmp_path: Path, demo_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    task = tmp_path / "task"
    pairs = pairs_of([VALID[0], ("错列", "SELECT nosuch FROM bss_company;"), VALID[1]])
    original = write_pairs(task, pairs).read_bytes()

    def crash(self: StepState) -> None:  # the process dies after the rewrite, before the scope is closed
        raise KeyboardInterrupt

    monkeypatch.setattr(StepState, "finish", crash)
    with pytest.raises(KeyboardInterrupt):
        execute_step(make_ctx(task, demo_uri, modify_original_file=True), "sql_validation")
    monkeypatch.undo()
    rewritten = (task / PAIR_NAME).read_bytes()
    assert json.loads(rewritten) == [pairs[0], pairs[2]]
    first_log = next(task.glob("file_modifications_*.log")).read_text("utf-8")

    advance_clock(monkeypatch)  # the retry keeps the first attempt's <ts> even in another second
    retry = execute_step(make_ctx(task, demo_uri, modify_original_file=True), "sql_validation")

    assert retry.resumed and retry.already_completed == 3 and retry.details["validated_this_run"] == 0
    assert (retry.details["total"], retry.details["removed"]) == (3, 1)  # the original file's view
    assert (task / PAIR_NAME).read_bytes() == rewritten
    assert (task / f"{PAIR_NAME}.backup").read_bytes() == original
    logs = list(task.glob("file_modifications_*.log"))
    assert len(logs) == 1 and logs[0].read_text("utf-8") == first_log and "REMOVED index 1" in first_log


def test_llm_repair_through_a_fake_openai_server_is_revalidated_and_written(
        tmp_path: Path, demo_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fixes = {
        "SELEC service_area_name FROM bss_service_area;": "SELECT service_area_name FROM bss_service_area;",
        "SELECT pay_total FROM bss_business_day_data;": "SELECT pay_totals FROM bss_business_day_data;",  # still bad
    }

    def responder(body: dict[str, Any]) -> dict[str, Any]:
        prompt = body["messages"][-1]["content"]
        listing = json.loads(prompt.split("Queries:\n", 1)[1].split("\n\nDocumentation:", 1)[0])
        return {"items": [{"index": entry["index"], "sql": fixes.get(entry["sql"])} for entry in listing]}

    task = tmp_path / "task"
    (task).mkdir()
    (task / "bss_service_area.ddl").write_text("CREATE TABLE bss_service_area (service_area_name varchar(64));\n")
    pairs = pairs_of([VALID[0], ("服务区名称", "SELEC service_area_name FROM bss_service_area;"),
                      ("不存在的列", "SELECT pay_total FROM bss_business_day_data;"),
                      ("无法修复", "SELECT * FROM no_such_table;")])
    write_pairs(task, pairs)
    with FakeOpenAI(api_key="sk-test") as server:
        server.responder = responder
        monkeypatch.setenv("DATA_PIPELINE_LLM_BASE_URL", server.base_url)
        monkeypatch.setenv("DATA_PIPELINE_LLM_API_KEY", "sk-test")
        monkeypatch.setenv("DATA_PIPELINE_LLM_MODEL", "fake-sql-fixer")
        monkeypatch.delenv("AIRFLOW_CONN_LLM_DEFAULT", raising=False)
        result = execute_step(make_ctx(task, demo_uri, enable_llm_repair=True, modify_original_file=True,
                                       batch_size=2), "sql_validation")
        prompts = [r.user_prompt for r in server.chat_requests()]

    assert result.details["generator"] == "llm:fake-sql-fixer"
    assert len(prompts) == 2  # 3 failed SQL in batches of 2
    assert 'syntax error at or near \\"SELEC\\"' in prompts[0] and "CREATE TABLE bss_service_area" in prompts[0]
    assert (result.details["repaired"], result.details["modified"], result.details["removed"]) == (1, 1, 2)
    items = {i["index"]: i for i in report_of(task, result)["items"]}
    assert items[1]["repair"]["status"] == "repaired"
    assert items[2]["repair"]["status"] == "still_invalid" and items[2]["repair"]["sqlstate"] == "42703"
    assert items[3]["repair"]["status"] == "no_fix"
    assert json.loads((task / PAIR_NAME).read_text("utf-8")) == [
        pairs[0], {"question": "服务区名称", "sql": "SELECT service_area_name FROM bss_service_area;"}]
    log = (task / f"file_modifications_{result.details['stamp']}.log").read_text("utf-8")
    assert "MODIFIED index 1: 服务区名称" in log
    assert "  old: SELEC service_area_name FROM bss_service_area;" in log
    assert "  new: SELECT service_area_name FROM bss_service_area;" in log
    assert "REMOVED index 2" in log and "the proposed repair was invalid too" in log
    assert "REMOVED index 3" in log and "no repair offered" in log


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "message"), [
    (None, "no question/SQL pair file"),
    (b'[{"question": "q", "sql": "SELECT 1;"},', f"{PAIR_NAME} is not valid JSON: Expecting value at line 1"),
    (b'{"question": "q", "sql": "SELECT 1;"}', "must hold a JSON array of"),
    (json.dumps([{"question": "a", "sql": "SELECT 1;"}, {"question": "b", "sql": "SELECT 2;"}, {"question": "c"}])
     .encode(), f'{PAIR_NAME}: item at index 2 has no "sql" key'),
    (json.dumps([{"question": "a", "sql": "SELECT 1;"}, {"question": "b", "sql": 42}]).encode(),
     f'{PAIR_NAME}: item at index 1: "sql" must be a string, not a JSON number'),
    (json.dumps([{"question": "a", "sql": "SELECT 1;"}, "SELECT 2;"]).encode(),
     f"{PAIR_NAME}: item at index 1 is a JSON string"),
    (bytes(range(256)) * 4, f"{PAIR_NAME} is not a text file"),
    (b"\xff\xfe[]", f"{PAIR_NAME} is not UTF-8 text"),
], ids=["no-file", "not-json", "not-array", "missing-key", "wrong-type", "not-object", "binary", "not-utf8"])
def test_bad_input_is_a_clear_error_with_no_outputs(tmp_path: Path, content: bytes | None, message: str) -> None:
    task = tmp_path / "task"
    task.mkdir()
    if content is not None:
        (task / PAIR_NAME).write_bytes(content)
    # Unreachable database on purpose: input is checked before anything connects.
    ctx = make_ctx(task, "postgresql://nobody@/nodb?host=/nonexistent", modify_original_file=True)

    with pytest.raises(StepFailed) as raised:
        execute_step(ctx, "sql_validation")

    assert message in raised.value.message
    result = json.loads((task / "sql_validation_result.json").read_text())
    assert result["status"] == "failed" and message in result["error_message"]
    left = {p.name for p in task.iterdir() if not p.name.startswith(".")}
    assert left <= {PAIR_NAME, "sql_validation_result.json", "data_pipeline.log"}  # nothing looking complete
    if content is not None:
        assert (task / PAIR_NAME).read_bytes() == content


def test_newest_pair_file_is_validated_and_offline_repair_offers_nothing(
        tmp_path: Path, demo_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATA_PIPELINE_LLM_BASE_URL", "AIRFLOW_CONN_LLM_DEFAULT"):
        monkeypatch.delenv(name, raising=False)
    task = tmp_path / "task"
    write_pairs(task, pairs_of([("旧", "SELECT nosuch;")]), name="qs_highway_20250101_000000_pair.json")
    write_pairs(task, pairs_of([*VALID[:2], ("错", "SELECT nosuch FROM bss_company;")]),
                name="qs_highway_20250721_083557_pair.json")
    result = execute_step(make_ctx(task, demo_uri, enable_llm_repair=True), "sql_validation")
    assert result.details["pair_file"] == "qs_highway_20250721_083557_pair.json"
    assert (result.details["total"], result.details["valid"], result.details["repaired"]) == (3, 2, 0)
    assert result.details["generator"] == "offline"
    assert report_of(task, result)["items"][2]["repair"] == {"status": "no_fix", "sql": None}
    summary = (task / f"sql_validation_{result.details['stamp']}_summary.log").read_text("utf-8")
    assert "offline generator (offers no repairs)" in summary and "repair: none offered" in summary


# -- resumability and reliability ---------------------------------------------------------------


def _locking(uri: str, table: str) -> psycopg.Connection:
    """A connection holding an ACCESS EXCLUSIVE lock on ``table``: EXPLAINs touching it wait."""
    conn = psycopg.connect(uri)
    conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    return conn


def _saved_verdicts(task: Path) -> int:
    """Verdicts saved so far by a running step, read through the state's own API."""
    state = StepState(task, "sql_validation")
    state.load()
    return sum(1 for rec in state.records().values() if rec.status == "completed")


def test_resume_after_kill_revalidates_only_unfinished_pairs(tmp_path: Path, demo_uri: str) -> None:
    free = [VALID[i % 3] for i in range(600)]
    blocked = [("充电量", f"SELECT SUM(charge_kwh) FROM bss_charging_day_data WHERE pile_count > {i};")
               for i in range(300)]
    blocked[7] = ("充电量", "SELECT SUM(charge_kwhh) FROM bss_charging_day_data;")
    task = tmp_path / "task"
    write_pairs(task, pairs_of(free + blocked))
    lock = _locking(demo_uri, "bss_charging_day_data")
    cmd = [sys.executable, "-m", "data_pipeline", "run", "--no-db-tracking", "--output-dir", str(task),
           "--execution-mode", "step", "--step-name", "sql_validation", "--db-connection", demo_uri,
           "--disable-llm-repair", "--no-modify-file", "--business-context", "高速公路服务区"]
    child = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "include")})
    try:
        deadline = time.monotonic() + 60
        while _saved_verdicts(task) < 600 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.1)
        assert _saved_verdicts(task) == 600, "the child should have saved exactly the unblocked verdicts"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        lock.close()
    assert not list(task.glob("sql_validation_*_report.json"))  # killed before any report

    result = execute_step(make_ctx(task, demo_uri), "sql_validation")

    assert result.resumed and result.already_completed == 600
    assert result.details["validated_this_run"] == 300
    assert (result.details["valid"], result.details["invalid"]) == (899, 1)
    invalid = [i for i in report_of(task, result)["items"] if i["status"] == "invalid"]
    assert [(i["index"], i["sqlstate"]) for i in invalid] == [(607, "42703")]


def test_terminated_connections_are_reopened_and_verdicts_unchanged(tmp_path: Path, demo_uri: str) -> None:
    """The server kills our sessions mid-run (57P01, as in a restart): statements are resent, not lost."""
    pairs = pairs_of([VALID[i % 4] for i in range(200)]
                     + [("档口", f"SELECT classify, COUNT(*) FROM bss_branch WHERE id > {i} GROUP BY classify;")
                        for i in range(200)]
                     + [("错列", "SELECT nosuch FROM bss_branch;")])
    task = tmp_path / "task"
    write_pairs(task, pairs)
    lock = _locking(demo_uri, "bss_branch")
    outcome: dict[str, Any] = {}

    def validate() -> None:
        try:
            outcome["result"] = execute_step(make_ctx(task, demo_uri), "sql_validation")
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=validate)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while _saved_verdicts(task) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _saved_verdicts(task) == 200  # the rest wait for the lock, in flight
        with psycopg.connect(demo_uri, autocommit=True) as admin:
            killed = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                                   "application_name = 'data_pipeline_sql_validation' AND datname = current_database()"
                                   ).fetchone()
    finally:
        lock.close()
        worker.join(60)
    assert killed is not None and killed[0] >= 1
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    assert result.status == "completed" and result.details["reconnects"] >= 1
    assert (result.details["valid"], result.details["invalid"], result.items_failed) == (400, 1, 0)
    items = report_of(task, result)["items"]
    assert items[400]["sqlstate"] == "42703"
    assert max(i["attempts"] for i in items) >= 2  # some were sent again after the kill


def test_unreachable_database_fails_the_step_and_keeps_no_report(tmp_path: Path, demo_uri: str) -> None:
    task = tmp_path / "task"
    write_pairs(task, pairs_of(VALID))
    missing = demo_uri.replace(database_name(demo_uri), "dp_no_such_database")
    with pytest.raises(StepFailed, match="does not exist"):
        execute_step(make_ctx(task, missing), "sql_validation")
    assert not list(task.glob("sql_validation_*"))[1:]  # only sql_validation_result.json
    assert json.loads((task / "sql_validation_result.json").read_text())["status"] == "failed"
