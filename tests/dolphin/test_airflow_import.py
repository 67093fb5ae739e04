"""Airflow DAG → platform workflow → DolphinScheduler definition whose tasks run our CLI per step.

The DAG under test is the project's real ``data_pipeline`` (dags/; DOLPHIN_IMPORT_DAGS_FOLDER points
elsewhere). It has Airflow-only batch planners for its mapped steps; DolphinScheduler gets one task
per step in a chain, because each step's CLI command runs all of its batches itself.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from dolphin_publisher.models import TriggerSource, WorkflowFile
from dolphin_publisher.runtime import Runtime

from .fake_dolphinscheduler import FakeDolphinScheduler

DAGS_FOLDER = Path(os.environ.get("DOLPHIN_IMPORT_DAGS_FOLDER") or Path(__file__).resolve().parents[2] / "dags")
DAG_ID = "data_pipeline"
STEPS = ["prepare", "backup_existing_files", "ddl_generation", "qa_generation", "sql_validation", "training_load",
         "finalize"]
CHAIN = set(itertools.pairwise(STEPS))
PROBE = Path(__file__).parent / "airflow_probe.py"


def probe(env: dict[str, str], *args: str) -> dict[str, Any]:
    """Load DAGs with the real Airflow in a subprocess (see airflow_probe.py for why)."""
    done = subprocess.run([sys.executable, str(PROBE), *args], capture_output=True, text=True, timeout=180,
                          env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _edges(spec: WorkflowFile) -> set[tuple[str, str]]:
    by_id = {t.task_id: t.name for t in spec.tasks}
    return {(by_id[a], by_id[b]) for a, b in spec.dependencies or []}


def test_the_pipeline_dag_becomes_one_task_per_step_in_a_chain(loaded: dict[str, Any],
                                                               pipeline_spec: WorkflowFile) -> None:
    assert {"plan_ddl_generation", "plan_sql_validation"} <= set(loaded["pipeline"]["airflow_tasks"])
    assert pipeline_spec.name == DAG_ID
    assert sorted(t.name for t in pipeline_spec.tasks) == sorted(STEPS)  # no plan_* helper tasks
    assert {t.task_id for t in pipeline_spec.tasks} == {f"{DAG_ID}.{step}" for step in STEPS}
    # The planners' neighbours are connected, and prepare's XCom edges to every step are implied by the chain.
    assert _edges(pipeline_spec) == CHAIN
    commands = {t.name: t.command or "" for t in pipeline_spec.tasks}
    for step in STEPS:
        assert commands[step].startswith("python -m data_pipeline ") and "${task_id}" in commands[step], step
    for step in ("ddl_generation", "qa_generation", "sql_validation", "training_load"):
        assert f"--step-name {step}" in commands[step]
    assert {"task_id", "execution_mode"} <= {p.prop for p in pipeline_spec.global_params}
    assert pipeline_spec.schedule is None


def test_pipeline_published_to_dolphinscheduler(runtime: Runtime, fake_ds: FakeDolphinScheduler,
                                                pipeline_spec: WorkflowFile) -> None:
    ref = runtime.workflows.create_or_update(pipeline_spec, operator="t", trigger=TriggerSource.AIRFLOW_IMPORT)
    again = runtime.workflows.create_or_update(pipeline_spec, operator="t", trigger=TriggerSource.AIRFLOW_IMPORT)
    assert (again.workflow_id, again.version, again.changed) == (ref.workflow_id, 1, False)
    with runtime.publisher() as publisher:
        outcome = publisher.publish(ref.workflow_id, "online", operator="t")
        assert outcome.ok, outcome.record.log
        stored = fake_ds.definitions[outcome.record.engine_workflow_code]  # type: ignore[index]
        (instance,) = publisher.start(ref.workflow_id, operator="t",
                                      params={"task_id": "task_20250101_000000"})["instance_ids"]

    # Exactly one DolphinScheduler task per step, chained, prepare hanging off preTaskCode 0.
    name_of = {t["code"]: t["name"] for t in stored.tasks}
    assert sorted(name_of.values()) == sorted(STEPS)
    assert [name_of[r["postTaskCode"]] for r in stored.relations if r["preTaskCode"] == 0] == ["prepare"]
    assert {(name_of[r["preTaskCode"]], name_of[r["postTaskCode"]])
            for r in stored.relations if r["preTaskCode"]} == CHAIN
    assert len(stored.relations) == len(STEPS)
    assert all(t["taskType"] == "SHELL" for t in stored.tasks)
    scripts = {t["name"]: t["taskParams"]["rawScript"] for t in stored.tasks}
    for step in STEPS:
        assert scripts[step].startswith("python -m data_pipeline ") and "${task_id}" in scripts[step], step
    assert scripts["ddl_generation"] == "python -m data_pipeline step --task-id ${task_id} --step-name ddl_generation"
    params = {p["prop"]: p for p in json.loads(stored.global_params)}
    assert params["task_id"]["direct"] == "IN" and params["task_id"]["type"] == "VARCHAR"
    assert json.loads(fake_ds.instances[instance]["startParams"]) == {"task_id": "task_20250101_000000"}


_ODD_DAGS = {
    "cron_dag.py": """
        import pendulum
        from airflow.sdk import DAG
        from airflow.providers.standard.operators.bash import BashOperator
        with DAG("cron_dag", schedule="30 2 * * 1-5", start_date=pendulum.datetime(2025, 1, 1, tz="Asia/Shanghai"),
                 params={"tables": ["a", "b"], "limit": 5, "note": None}):
            BashOperator(task_id="hello", bash_command="echo {{ params.limit }} rows")
    """,
    "no_command.py": """
        import pendulum
        from airflow.sdk import DAG, task
        with DAG("no_command", schedule=None, start_date=pendulum.datetime(2025, 1, 1)):
            @task
            def mystery(): ...
            mystery()
    """,
    "templated.py": """
        import pendulum
        from airflow.sdk import DAG
        from airflow.providers.standard.operators.bash import BashOperator
        with DAG("templated", schedule="@daily", start_date=pendulum.datetime(2025, 1, 1)):
            BashOperator(task_id="dated", bash_command="load --date {{ ds }}")
    """,
    "tuned.py": """
        import datetime, pendulum
        from airflow.sdk import DAG
        from airflow.providers.standard.operators.bash import BashOperator
        with DAG("tuned", schedule=None, start_date=pendulum.datetime(2025, 1, 1)):
            BashOperator(task_id="slow", bash_command="sleep 1", retries=3, retry_delay=datetime.timedelta(seconds=90),
                         execution_timeout=datetime.timedelta(hours=2))
    """,
    "bridged.py": """
        import json, pendulum
        from airflow.sdk import DAG, task
        from airflow.providers.standard.operators.bash import BashOperator
        skip = json.dumps({"dolphinscheduler": "skip"})
        with DAG("bridged", schedule=None, start_date=pendulum.datetime(2025, 1, 1)):
            a, b, c, d = (BashOperator(task_id=n, bash_command=f"echo {n}") for n in "abcd")
            @task(doc_json=skip)
            def fan_out(): ...
            @task(doc_json=skip)
            def plan(): ...
            f, p = fan_out(), plan()
            a >> f >> [b, c]
            b >> p >> d
            c >> d
            a >> d
    """,
    "odd_value.py": """
        import json, pendulum
        from airflow.sdk import DAG
        from airflow.providers.standard.operators.bash import BashOperator
        with DAG("odd_value", schedule=None, start_date=pendulum.datetime(2025, 1, 1)):
            BashOperator(task_id="x", bash_command="true", doc_json=json.dumps({"dolphinscheduler": "maybe"}))
    """,
    "delta.py": """
        import datetime, pendulum
        from airflow.sdk import DAG
        from airflow.providers.standard.operators.bash import BashOperator
        with DAG("delta", schedule=datetime.timedelta(hours=3), start_date=pendulum.datetime(2025, 1, 1)):
            BashOperator(task_id="x", bash_command="true")
    """,
}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, airflow_subprocess_env: dict[str, str]) -> dict[str, Any]:
    """Both DAG folders loaded by one Airflow subprocess: the pipeline DAG, and DAGs with odd features."""
    odd = tmp_path_factory.mktemp("odd_dags")
    for name, source in _ODD_DAGS.items():
        (odd / name).write_text(textwrap.dedent(source))
    result = probe(airflow_subprocess_env, "specs", f"{DAGS_FOLDER}::{DAG_ID}",
                   f"{odd}::cron_dag,no_command,templated,delta,tuned,bridged,odd_value,nope")
    return {"pipeline": result[str(DAGS_FOLDER)][DAG_ID], **result[str(odd)]}


@pytest.fixture(scope="module")
def pipeline_spec(loaded: dict[str, Any]) -> WorkflowFile:
    assert "spec" in loaded["pipeline"], loaded["pipeline"]
    return WorkflowFile.model_validate(loaded["pipeline"]["spec"])


@pytest.fixture(scope="module")
def odd_dags(loaded: dict[str, Any]) -> dict[str, Any]:
    return loaded


def test_cron_schedule_params_and_param_templates(odd_dags: dict[str, Any]) -> None:
    spec = WorkflowFile.model_validate(odd_dags["cron_dag"]["spec"])
    assert spec.schedule is not None
    assert (spec.schedule.cron, spec.schedule.timezone) == ("30 2 * * 1-5", "Asia/Shanghai")
    assert {p.prop: p.value for p in spec.global_params} == {"tables": '["a", "b"]', "limit": "5", "note": ""}
    assert spec.tasks[0].command == "echo ${limit} rows"


def test_retries_and_timeouts_are_carried_over(odd_dags: dict[str, Any]) -> None:
    (task,) = WorkflowFile.model_validate(odd_dags["tuned"]["spec"]).tasks
    assert (task.retries, task.retry_delay_minutes, task.timeout_minutes) == (3, 2, 120)  # minutes round up


def test_airflow_only_tasks_are_left_out_and_their_neighbours_connected(odd_dags: dict[str, Any]) -> None:
    spec = WorkflowFile.model_validate(odd_dags["bridged"]["spec"])
    assert sorted(t.name for t in spec.tasks) == ["a", "b", "c", "d"]
    assert _edges(spec) == {("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")}  # a >> d is implied: dropped


@pytest.mark.parametrize(("dag_id", "message"), [
    ("odd_value", "the only value understood is \"skip\""),
    ("no_command", "task 'mystery' has no command"),
    ("templated", "Airflow templating"),
    ("delta", "has no DolphinScheduler equivalent"),
])
def test_dags_that_cannot_be_expressed_are_clear_errors(odd_dags: dict[str, Any], dag_id: str, message: str) -> None:
    error = odd_dags[dag_id]["error"]
    assert error["type"] == "VALIDATION_ERROR" and message in error["message"]


def test_import_of_a_missing_dag_names_the_folder(odd_dags: dict[str, Any]) -> None:
    assert "DAG 'nope' not found in" in odd_dags["nope"]["error"]["message"]
