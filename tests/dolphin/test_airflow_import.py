"""Airflow DAG → platform workflow → DolphinScheduler definition whose tasks run our CLI per step.

The DAG under test defaults to tests/dolphin/dags/data_pipeline.py (the shape of the planned
data_pipeline DAG); point DOLPHIN_IMPORT_DAGS_FOLDER at dags/ to run the same checks on the real one.
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

DAGS_FOLDER = Path(os.environ.get("DOLPHIN_IMPORT_DAGS_FOLDER") or Path(__file__).parent / "dags")
DAG_ID = os.environ.get("DOLPHIN_IMPORT_DAG_ID", "data_pipeline")
STEPS = ["prepare", "backup_existing_files", "ddl_generation", "qa_generation", "sql_validation", "training_load",
         "finalize"]


PROBE = Path(__file__).parent / "airflow_probe.py"


def probe(env: dict[str, str], *args: str) -> dict[str, Any]:
    """Load DAGs with the real Airflow in a subprocess (see airflow_probe.py for why)."""
    done = subprocess.run([sys.executable, str(PROBE), *args], capture_output=True, text=True, timeout=180,
                          env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


STAND_IN = "tests" in DAGS_FOLDER.parts


def _reachable(edges: set[tuple[str, str]], start: str) -> set[str]:
    found, stack = set(), [start]
    while stack:
        node = stack.pop()
        for a, b in edges:
            if a == node and b not in found:
                found.add(b)
                stack.append(b)
    return found


def test_the_pipeline_dag_becomes_one_task_per_step(pipeline_spec: WorkflowFile) -> None:
    assert pipeline_spec.name == DAG_ID
    names = {t.name for t in pipeline_spec.tasks}
    assert set(STEPS) <= names  # one platform task per Airflow task; the real DAG may add helper tasks
    assert len(names) == len(pipeline_spec.tasks)
    by_id = {t.task_id: t.name for t in pipeline_spec.tasks}
    edges = {(by_id[a], by_id[b]) for a, b in pipeline_spec.dependencies or []}
    for earlier, later in itertools.pairwise(STEPS):
        assert later in _reachable(edges, earlier), f"{later} does not run after {earlier}"
    for task in pipeline_spec.tasks:
        if task.name in STEPS:
            assert task.command and task.command.startswith("python -m data_pipeline"), task
            assert "${task_id}" in task.command
    assert "task_id" in {p.prop for p in pipeline_spec.global_params}
    if STAND_IN:
        assert names == set(STEPS) and edges == set(itertools.pairwise(STEPS))
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

    # The stored definition is the DAG: same tasks, same edges, roots hanging off preTaskCode 0.
    by_id = {t.task_id: t for t in pipeline_spec.tasks}
    dag_edges = {(by_id[a].name, by_id[b].name) for a, b in pipeline_spec.dependencies or []}
    dag_roots = {t.name for t in pipeline_spec.tasks} - {b for _, b in dag_edges}
    name_of = {t["code"]: t["name"] for t in stored.tasks}
    assert sorted(name_of.values()) == sorted(t.name for t in pipeline_spec.tasks)
    assert {name_of[r["postTaskCode"]] for r in stored.relations if r["preTaskCode"] == 0} == dag_roots
    assert {(name_of[r["preTaskCode"]], name_of[r["postTaskCode"]])
            for r in stored.relations if r["preTaskCode"]} == dag_edges
    scripts = {t["name"]: t["taskParams"]["rawScript"] for t in stored.tasks}
    assert all(t["taskType"] == "SHELL" for t in stored.tasks)
    assert scripts == {t.name: t.command for t in pipeline_spec.tasks}
    for step in STEPS:
        assert scripts[step].startswith("python -m data_pipeline") and "${task_id}" in scripts[step], step
    assert "--step-name ddl_generation" in scripts["ddl_generation"]
    if STAND_IN:
        assert dag_roots == {"prepare"} and dag_edges == set(itertools.pairwise(STEPS))
    params = {p["prop"]: p for p in json.loads(stored.global_params)}
    assert params["task_id"]["direct"] == "IN" and params["task_id"]["type"] == "VARCHAR"
    assert json.loads(fake_ds.instances[instance]["startParams"]) == {"task_id": "task_20250101_000000"}


def test_retries_and_timeouts_are_carried_over(pipeline_spec: WorkflowFile) -> None:
    if not STAND_IN:
        pytest.skip("values specific to the stand-in DAG")
    step = next(t for t in pipeline_spec.tasks if t.name == "sql_validation")
    assert (step.retries, step.retry_delay_minutes, step.timeout_minutes) == (2, 2, 120)


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
                   f"{odd}::cron_dag,no_command,templated,delta,nope")
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


@pytest.mark.parametrize(("dag_id", "message"), [
    ("no_command", "task 'mystery' has no command"),
    ("templated", "Airflow templating"),
    ("delta", "has no DolphinScheduler equivalent"),
])
def test_dags_that_cannot_be_expressed_are_clear_errors(odd_dags: dict[str, Any], dag_id: str, message: str) -> None:
    error = odd_dags[dag_id]["error"]
    assert error["type"] == "VALIDATION_ERROR" and message in error["message"]


def test_import_of_a_missing_dag_names_the_folder(odd_dags: dict[str, Any]) -> None:
    assert "DAG 'nope' not found in" in odd_dags["nope"]["error"]["message"]
