"""``python -m dolphin_publisher``: one JSON document on stdout, non-zero exit with the server's code on failure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dolphin_publisher.cli import main
from dolphin_publisher.repository import Database

from .conftest import PROJECT_CODE
from .fake_dolphinscheduler import FakeDolphinScheduler


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, db: Database, fake_ds: FakeDolphinScheduler) -> dict[str, str]:
    connection = {"conn_type": "http", "host": fake_ds.base_url, "password": fake_ds.token,
                  "extra": {"project_code": PROJECT_CODE, "project_name": "text2sql", "timeout": 5}}
    env = {"DATA_PIPELINE_DB_URI": db.dsn, "AIRFLOW_CONN_DOLPHINSCHEDULER_DEFAULT": json.dumps(connection)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out)  # exactly one JSON document


def test_create_publish_start_sync_executions_rollback(cli_env: dict[str, str], capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path, fake_ds: FakeDolphinScheduler) -> None:
    workflow = {
        "name": "daily_sales", "description": "from a file", "schedule": {"cron": "30 2 * * *",
                                                                          "timezone": "Asia/Shanghai"},
        "tasks": [{"task_id": "extract", "name": "extract", "type": "SHELL", "command": "python extract.py",
                   "worker_group": "default", "retries": 2, "retry_delay_minutes": 1, "timeout_minutes": 30},
                  {"task_id": "load", "name": "load", "type": "SQL", "sql": "insert into t select 1", "datasource": 1}],
        "dependencies": [["extract", "load"]],
    }
    path = tmp_path / "daily_sales.json"
    path.write_text(json.dumps(workflow))
    assert run(capsys, "create", "--file", str(path)) == (0, {"workflow_id": 1, "name": "daily_sales", "version": 1,
                                                               "changed": True})
    workflow["tasks"][0]["retries"] = 3
    path.write_text(json.dumps(workflow))
    assert run(capsys, "update", "daily_sales", "--file", str(path))[1]["version"] == 2

    code, published = run(capsys, "publish", "daily_sales", "--operation", "online")
    assert code == 0 and published["status"] == "success" and published["version"] == 2
    assert published["error"] is None and published["engine_workflow_code"] in fake_ds.definitions
    stored = fake_ds.definitions[published["engine_workflow_code"]]
    sql_task = next(t for t in stored.tasks if t["name"] == "load")
    assert sql_task["taskType"] == "SQL" and sql_task["taskParams"]["sqlType"] == "1"
    extract = next(t for t in stored.tasks if t["name"] == "extract")
    assert (extract["failRetryTimes"], extract["timeout"], extract["timeoutFlag"]) == (3, 30, "OPEN")

    code, started = run(capsys, "start", "1", "--param", "run_date=2025-01-01")
    assert code == 0 and len(started["instance_ids"]) == 1
    code, synced = run(capsys, "sync")
    assert code == 0 and synced["workflows"] == 1 and synced["instances"] == 1
    code, executions = run(capsys, "executions", "daily_sales")
    assert [e["instance_id"] for e in executions["executions"]] == started["instance_ids"]
    code, rolled = run(capsys, "rollback", "daily_sales", "1")
    assert code == 0 and rolled["version"] == 3
    code, ping = run(capsys, "ping")
    assert code == 0 and ping["project_code"] == PROJECT_CODE and fake_ds.token not in json.dumps(ping)


def test_failures_exit_non_zero_with_code_and_message(cli_env: dict[str, str], capsys: pytest.CaptureFixture[str],
                                                      tmp_path: Path, fake_ds: FakeDolphinScheduler) -> None:
    path = tmp_path / "wf.json"
    path.write_text(json.dumps({"name": "wf", "tasks": [{"task_id": "a", "command": "true"}]}))
    run(capsys, "create", "--file", str(path))
    fake_ds.error_next("create-workflow", 10105, "create workflow definition error")
    code, failed = run(capsys, "publish", "wf", "--operation", "deploy")
    assert code == 1 and failed["status"] == "failed"
    assert (failed["error"]["code"], failed["error"]["msg"]) == (10105, "create workflow definition error")

    path.write_text(json.dumps({"name": "bad", "tasks": [{"task_id": "b", "command": "x", "retries": "many"}]}))
    code, invalid = run(capsys, "create", "--file", str(path))
    assert code == 1 and invalid["error"]["type"] == "VALIDATION_ERROR"
    assert "tasks.0.retries" in invalid["error"]["message"]
    code, missing = run(capsys, "publish", "no_such_workflow", "--operation", "deploy")
    assert code == 1 and missing["error"]["type"] == "NOT_FOUND"
    with pytest.raises(SystemExit) as usage:
        main(["publish", "wf", "--operation", "launch"])
    assert usage.value.code == 2 and "invalid choice" in json.loads(capsys.readouterr().out)["error"]["message"]


def test_unconfigured_dolphinscheduler_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, db: Database,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATA_PIPELINE_DB_URI", db.dsn)
    code, body = run(capsys, "ping")
    assert code == 1 and body["error"]["type"] == "DOLPHIN_NOT_CONFIGURED"
    assert "dolphinscheduler_default" in body["error"]["message"]
    assert "AIRFLOW_CONN_DOLPHINSCHEDULER_DEFAULT" in body["error"]["message"]


def _module(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dolphin_publisher", *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def test_python_dash_m_import_dag_and_publish(cli_env: dict[str, str], fake_ds: FakeDolphinScheduler,
                                              airflow_subprocess_env: dict[str, str]) -> None:
    env = {**airflow_subprocess_env, **cli_env}
    imported = _module(["import-dag", "data_pipeline"], env)  # the project's dags/ folder by default
    assert imported.returncode == 0, imported.stderr[-2000:]
    body = json.loads(imported.stdout)  # Airflow's own logging stays off stdout
    assert body["name"] == "data_pipeline" and body["version"] == 1
    published = _module(["publish", "data_pipeline", "--operation", "deploy"], env)
    assert published.returncode == 0, published.stdout
    stored = fake_ds.definitions[json.loads(published.stdout)["engine_workflow_code"]]
    assert len(stored.tasks) == 7  # one per step; Airflow's batch planners are left out


def test_python_dash_m_reports_an_invalid_token(cli_env: dict[str, str], fake_ds: FakeDolphinScheduler,
                                                airflow_subprocess_env: dict[str, str]) -> None:
    connection = json.loads(cli_env["AIRFLOW_CONN_DOLPHINSCHEDULER_DEFAULT"])
    connection["password"] = "not-the-token"
    result = _module(["ping"], {**airflow_subprocess_env, **cli_env,
                                "AIRFLOW_CONN_DOLPHINSCHEDULER_DEFAULT": json.dumps(connection)})
    assert result.returncode == 1
    body = json.loads(result.stdout)
    assert body["error"]["type"] == "DOLPHIN_AUTH_ERROR" and body["error"]["http_status"] == 401
    assert "not-the-token" not in result.stdout + result.stderr
