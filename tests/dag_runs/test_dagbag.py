"""The DAG folder imports cleanly, quickly, and without touching a database or the network."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def trap_listener() -> tuple[int, list[int]]:
    """A TCP port that counts connection attempts (all 'databases' and services point here)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    accepted: list[int] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(1)
            conn.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join(2)
    server.close()


def parse(tmp_path: Path, port: int, schedules: Path | None = None, extra_env: dict[str, str] | None = None) -> dict:
    trap = f"postgresql://user:secret@127.0.0.1:{port}/nowhere"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DATA_PIPELINE"))}
    env.update({
        "AIRFLOW_HOME": str(tmp_path / "airflow_home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://u:p@127.0.0.1:{port}/airflow",
        "AIRFLOW_CONN_DATA_PIPELINE_DB": trap, "DATA_PIPELINE_DB_URI": trap,
        "DATA_PIPELINE_LOCAL_DIR": str(tmp_path / "local"),
        "DATA_PIPELINE_LLM_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "DATA_PIPELINE_DATA_DIR": str(tmp_path / "data"),
    })
    if schedules is not None:
        env["DATA_PIPELINE_SCHEDULES_FILE"] = str(schedules)
    env.update(extra_env or {})
    out = subprocess.run([sys.executable, str(Path(__file__).with_name("parse_probe.py")), str(ROOT / "dags"),
                          str(ROOT / "plugins")], env=env, capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_dag_folder_parses_without_db_or_network(tmp_path: Path, trap_listener: tuple[int, list[int]]) -> None:
    port, accepted = trap_listener
    schedules = tmp_path / "schedules.json"
    schedules.write_text(json.dumps([{"name": "highway_daily", "cron": "30 2 * * *", "db_conn_id": "highway",
                                      "tables": ["bss_company", "bss_service_area"],
                                      "business_context": "高速公路服务区", "options": {"batch_size": 20}}]))
    result = parse(tmp_path, port, schedules)
    print(f"\nDAG folder parse time: {result['seconds'] * 1000:.0f} ms for {len(result['dags'])} DAGs")
    assert result["errors"] == {}
    assert {"data_pipeline", "data_pipeline_maintenance", "data_pipeline_sched_highway_daily",
            "dolphin_history_sync", "training_data_smoke_check"} <= set(result["dags"])
    assert result["dags"]["training_data_smoke_check"] == ["retrieval_smoke_check"]
    assert result["dags"]["data_pipeline"] == sorted([
        "prepare", "backup_existing_files", "plan_ddl_generation", "ddl_generation", "qa_generation",
        "plan_sql_validation", "sql_validation", "training_load", "finalize"])
    assert result["connects"] == [] and accepted == []
    assert not (tmp_path / "local").exists()  # the embedded server was not started either
    assert not (tmp_path / "data").exists()


def test_the_smoke_check_dag_is_not_loaded_when_turned_off(tmp_path: Path,
                                                           trap_listener: tuple[int, list[int]]) -> None:
    result = parse(tmp_path, trap_listener[0], extra_env={"DATA_PIPELINE_SMOKE_CHECK_ENABLED": "false"})
    assert result["errors"] == {}
    assert "training_data_smoke_check" not in result["dags"] and "data_pipeline" in result["dags"]


def test_bad_schedules_file_is_an_import_error_naming_the_entry(tmp_path: Path,
                                                                trap_listener: tuple[int, list[int]]) -> None:
    schedules = tmp_path / "schedules.json"
    schedules.write_text(json.dumps([{"name": "Bad Name", "cron": "every day", "db_conn_id": "x", "tables": []}]))
    result = parse(tmp_path, trap_listener[0], schedules)
    errors = " ".join(result["errors"].values())
    assert "schedules.json entry 0" in errors
    assert "data_pipeline" in result["dags"]  # the other DAG files still load


def test_bad_schedule_entries_are_the_import_error_and_the_good_ones_still_load(
        tmp_path: Path, trap_listener: tuple[int, list[int]]) -> None:
    good = {"db_conn_id": "highway", "tables": ["bss_company"], "business_context": "highway service areas"}
    schedules = tmp_path / "schedules.json"
    schedules.write_text(json.dumps([
        {"name": "first", "cron": "30 2 * * *", **good},
        {"name": "bad_cron", "cron": "99 * * * *", **good},
        {"name": "unknown_key", "cron": "@daily", "colour": "red", **good},
        {"name": "bad_type", "cron": "@daily", "db_conn_id": "highway", "tables": "bss_company"},
        {"name": "bad_option", "cron": "@daily", "options": {"batch_size": "many"}, **good},
        {"name": "first", "cron": "@hourly", **good},
        {"name": "last", "cron": "@quarterly", **good},
    ]))
    result = parse(tmp_path, trap_listener[0], schedules)
    assert {"data_pipeline_sched_first", "data_pipeline_sched_last", "data_pipeline"} <= set(result["dags"])
    assert not [d for d in result["dags"] if d.startswith("data_pipeline_sched_") and
                d not in ("data_pipeline_sched_first", "data_pipeline_sched_last")]
    (where, error), = result["errors"].items()
    assert where.endswith("data_pipeline_scheduled.py")
    for index, words in [(1, "99 * * * *"), (2, "colour"), (3, "tables"), (4, "batch_size"), (5, "unique")]:
        line = next(x for x in error.splitlines() if f"schedules.json entry {index}:" in x)
        assert words in line
    assert "entry 0:" not in error and "entry 6:" not in error
