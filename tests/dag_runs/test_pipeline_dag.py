"""The data_pipeline DAG run for real with `airflow dags test` on the demo database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from data_pipeline.workflow.pipeline import create_task_from_parameters
from tests.dag_runs.conftest import DEMO_TABLES, DagRunner
from tests.dag_runs.test_maintenance_dag import metadata_uri
from tests.fake_openai import FakeOpenAI, Reply


def visible(path: Path) -> set[str]:
    return {p.name for p in path.iterdir() if not p.name.startswith(".")}


def test_complete_then_again_then_one_step(runner: DagRunner) -> None:
    first = runner.dags_test("data_pipeline", {"db_conn_id": "highway_demo", "table_list": DEMO_TABLES,
                                               "business_context": "高速公路服务区"})
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    task_id = runner.newest_task()
    task = runner.store.require_task(task_id)
    assert task.status == "completed" and task.created_by == "airflow" and task.id.startswith("manual_")
    assert {s.step_name: s.status for s in runner.store.get_steps(task_id)} == dict.fromkeys(
        ["ddl_generation", "qa_generation", "sql_validation", "training_load"], "completed")
    directory = runner.data_dir / task_id
    first_files = visible(directory)
    assert {f"{t}.ddl" for t in DEMO_TABLES} | {"metadata.txt", "task_result.json", "table_list.txt"} <= first_files
    table_list = (directory / "table_list.txt").read_bytes()
    first_ddl = (directory / "bss_company.ddl").read_bytes()
    log = (directory / "data_pipeline.log").read_text()
    assert "[training_load]" in log and "progress" in log
    outputs = {o.file_path: o for o in runner.store.list_outputs(task_id)}
    assert outputs["bss_company.ddl"].content_hash and outputs["task_result.json"].is_primary
    with psycopg.connect(metadata_uri(runner)) as conn:
        events = conn.execute("SELECT count(*) FROM asset_event e JOIN asset a ON a.id = e.asset_id "
                              "WHERE a.name = 'text2sql_training_data'").fetchone()[0]
    assert events >= 1  # downstream DAGs can be scheduled on new training data

    second = runner.dags_test("data_pipeline", {"task_id": task_id, "execution_mode": "complete"})
    assert second.returncode == 0, second.stdout[-4000:]
    backups = sorted(p for p in directory.iterdir() if p.name.startswith("file_bak_"))
    assert len(backups) == 1
    backed_up = visible(backups[0])
    assert backed_up == (first_files - {"table_list.txt"}) | {"backup_info.json"}
    assert (backups[0] / "bss_company.ddl").read_bytes() == first_ddl
    info = json.loads((backups[0] / "backup_info.json").read_text())
    assert info["task_id"] == task_id and info["failed_files"] == [] and "table_list.txt" not in info["moved_files"]
    assert (directory / "table_list.txt").read_bytes() == table_list  # never moved, never rewritten
    assert runner.store.require_task(task_id).result["backup"]["backup_directory"] == backups[0].name

    third = runner.dags_test("data_pipeline", {"task_id": task_id, "execution_mode": "step",
                                               "step_name": "qa_generation"})
    assert third.returncode == 0, third.stdout[-4000:]
    assert sorted(p.name for p in directory.iterdir() if p.name.startswith("file_bak_")) == [backups[0].name]
    steps = {s.step_name: s.status for s in runner.store.get_steps(task_id)}
    # the steps this run did not select keep the second complete run's state
    assert steps == {"ddl_generation": "completed", "qa_generation": "completed", "sql_validation": "completed",
                     "training_load": "completed"}
    assert runner.store.require_task(task_id).selected_steps == ["qa_generation"]
    assert (directory / "bss_company.ddl").read_bytes() == first_ddl  # other steps' files untouched
    assert len(list((directory / "previous_pairs").glob("qs_*_pair.json"))) == 1


def test_no_secret_in_run_conf_xcom_rendered_fields_or_logs(runner: DagRunner,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_PIPELINE_DATA_DIR", str(runner.data_dir))
    refused = runner.dags_test("data_pipeline", {"db_connection": "postgresql://u:hunter2-secret@h/db",
                                                 "table_list": ["bss_company"]})
    assert refused.returncode != 0
    assert "must not contain db_connection" in refused.stdout + refused.stderr
    assert "hunter2-secret" not in refused.stdout + refused.stderr

    # A task whose business database is a URI with a password (the demo server ignores it: trust auth).
    secret = "Sup3r-Secret-Pa55"
    demo = runner.airflow.env["AIRFLOW_CONN_HIGHWAY_DEMO"].replace("postgres:@", f"postgres:{secret}@")
    task_id = create_task_from_parameters(runner.store, {"db_connection": demo, "table_list": DEMO_TABLES[:3],
                                                         "business_context": "高速公路服务区"},
                                          created_by="api")
    run = runner.dags_test("data_pipeline", {"task_id": task_id, "execution_mode": "complete"})
    assert run.returncode == 0, run.stdout[-3000:]
    assert runner.store.require_task(task_id).status == "completed"
    assert secret not in run.stdout + run.stderr  # every task log of the run
    with psycopg.connect(metadata_uri(runner)) as conn:
        conf = conn.execute("SELECT conf::text FROM dag_run WHERE conf::text LIKE %s", (f"%{task_id}%",)).fetchall()
        assert conf and all(secret not in row[0] for row in conf)
        for table, column in (("xcom", "value::text"), ("rendered_task_instance_fields", "rendered_fields::text"),
                              ("dag_run", "conf::text")):
            leaked = conn.execute(f"SELECT count(*) FROM {table} WHERE {column} LIKE %s", (f"%{secret}%",)).fetchone()
            assert leaked == (0,), table
    for path in (runner.data_dir / task_id).rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    with runner.store.connection() as conn:
        for table in ("data_pipeline_tasks", "data_pipeline_task_logs", "data_pipeline_task_steps",
                      "data_pipeline_task_outputs"):
            leaked = conn.execute(f"SELECT count(*) AS n FROM {table} t WHERE t::text LIKE %s",
                                  (f"%{secret}%",)).fetchone()["n"]
            assert leaked == 0, table
    assert runner.store.get_secret(task_id, "db_password") == secret  # kept apart, where the steps need it


def test_killed_step_retried_resumes_without_redoing_finished_tables(runner: DagRunner) -> None:
    """A slow LLM makes ddl_generation take seconds; the run is SIGKILLed mid-step, then the task retried."""
    with FakeOpenAI() as fake:
        fake.responder = lambda request: Reply(content={"table_comment": "表", "columns": {}}, delay=0.8)
        env = runner.env(DATA_PIPELINE_LLM_BASE_URL=fake.base_url, DATA_PIPELINE_LLM_MODEL="fake")
        conf = {"db_conn_id": "highway_demo", "table_list": DEMO_TABLES, "execution_mode": "step",
                "business_context": "高速公路服务区",
                "step_name": "ddl_generation"}
        cmd = [runner.airflow.bin, "dags", "test", "data_pipeline", "-c", json.dumps(conf)]
        before_ids = {t.id for t in runner.store.list_tasks().items}
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        deadline = time.monotonic() + 180
        done: dict[str, dict] = {}
        task_id = None
        while time.monotonic() < deadline and len(done) < 4:
            time.sleep(0.1)
            if task_id is None:
                task_id = next((t.id for t in runner.store.list_tasks().items if t.id not in before_ids), None)
                continue
            done = {}
            for item in (runner.data_dir / task_id).glob(".state/ddl_generation/batch_0000/items/*.json"):
                try:
                    record = json.loads(item.read_text())
                except (OSError, ValueError):
                    continue
                if record.get("status") == "completed":
                    done[record["key"]] = record
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert 4 <= len(done) < len(DEMO_TABLES), f"kill came at the wrong moment: {len(done)} tables done"
        assert task_id is not None
        task = runner.store.require_task(task_id)
        assert task.status == "in_progress"
        calls_before = len(fake.requests)

        retry = runner.tasks_test("data_pipeline", "ddl_generation", task.dag_run_id, map_index=0, env=env)
        assert retry.returncode == 0, retry.stdout[-4000:]
        directory = runner.data_dir / task_id
        after = {}
        for item in directory.glob(".state/ddl_generation/batch_0000/items/*.json"):
            record = json.loads(item.read_text())
            after[record["key"]] = record
        assert len(after) == len(DEMO_TABLES) and all(r["status"] == "completed" for r in after.values())
        redone = [k for k, r in done.items()
                  if after[k]["completed_at"] != r["completed_at"] or after[k]["attempts"] != 1]
        assert redone == []
        llm_calls_on_retry = len(fake.requests) - calls_before
        assert llm_calls_on_retry <= len(DEMO_TABLES) - len(done)
        assert {f"{t}.ddl" for t in DEMO_TABLES} <= visible(directory)
        assert f"{len(done)} of {len(DEMO_TABLES)} tables already done" in (directory / "data_pipeline.log").read_text()
        step = next(s for s in runner.store.get_steps(task_id) if s.step_name == "ddl_generation")
        assert step.status == "completed" and step.progress_done == len(DEMO_TABLES)
