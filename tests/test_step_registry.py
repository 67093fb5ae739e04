"""A step is declared once, in the step registry; the CLI, the API, the DAG, the graph and the task log follow.

The throwaway step ``row_count_check`` lives in a module this test writes; registering it is the only
change, and every consumer shows it.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from data_pipeline import STEPS
from data_pipeline.api.models import ExecuteRequest, LogQuery
from data_pipeline.cli import build_parser, main
from data_pipeline.steps import registry
from data_pipeline.steps.registry import BatchedStep, Step, StepSpec
from data_pipeline.tasks.parameters import TaskParameters
from data_pipeline.workflow.graph import pipeline_graph

ROOT = Path(__file__).resolve().parents[1]
EXTRA = StepSpec(name="row_count_check", number=5, module="row_count_check_step", title="Row counts",
                 description="Count the rows of the listed tables.")
IMPLEMENTATION = '''
from data_pipeline.steps.context import StepContext, StepResult


class RowCountCheck:
    def run(self, ctx: StepContext) -> StepResult:
        ctx.log.info("counted the rows of 0 tables")
        return StepResult(step="row_count_check", items_total=1, items_completed=1)


IMPLEMENTATION = RowCountCheck()
'''
DAG_PROBE = '''
import json, sys
from data_pipeline.steps.registry import StepSpec, register
register(StepSpec(**json.loads(sys.argv[1])))
from data_pipeline_airflow.dag_factory import build_pipeline_dag
dag = build_pipeline_dag("data_pipeline")
print(json.dumps({t.task_id: {"down": sorted(t.downstream_task_ids),
                              "trigger_rule": getattr(t.trigger_rule, "value", t.trigger_rule)} for t in dag.tasks}))
'''


@pytest.fixture
def extra_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StepSpec]:
    """``row_count_check`` registered (its module on sys.path) for one test; the registry is restored after."""
    (tmp_path / "row_count_check_step.py").write_text(IMPLEMENTATION)
    monkeypatch.syspath_prepend(str(tmp_path))
    with registry.registered(EXTRA) as spec:
        yield spec
    assert "row_count_check" not in STEPS


def test_built_in_steps_are_declared_once_and_implement_their_protocol() -> None:
    assert STEPS == ("ddl_generation", "qa_generation", "sql_validation", "training_load")
    assert registry.step_numbers() == {1: "ddl_generation", 2: "qa_generation", 3: "sql_validation",
                                       4: "training_load"}
    for spec in registry.all_steps():
        implementation = spec.load()
        assert isinstance(implementation, BatchedStep if spec.batched else Step), spec.name
        assert spec.result_file == f"{spec.name}_result.json"
        assert spec.enabled_by is None or spec.enabled_by in TaskParameters.model_fields
    assert [s.name for s in registry.all_steps() if s.batched] == ["ddl_generation", "sql_validation"]
    assert registry.needs_table_list(list(STEPS)) == ["ddl_generation"]
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.get("qa_generation"))
    with pytest.raises(ValueError, match="number 2 is taken"):
        registry.register(StepSpec(name="other", number=2, module="x", title="x", description="x"))


def test_an_extra_step_shows_in_the_cli(extra_step: StepSpec, capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert parser.parse_args(["run", "--step-name", "row_count_check"]).step_name == "row_count_check"
    assert parser.parse_args(["run", "--single-step", "5"]).single_step == 5
    assert parser.parse_args(["step", "--task-id", "t", "--step-name", "row_count_check"]).step_name == \
        "row_count_check"
    assert parser.parse_args(["prepare", "--task-id", "t", "--step-name", "row_count_check"]).step_name == \
        "row_count_check"
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "5 row_count_check" in " ".join(capsys.readouterr().out.split())


def test_an_extra_step_is_accepted_by_the_api(extra_step: StepSpec) -> None:
    assert ExecuteRequest(execution_mode="step", step_name="row_count_check").step_name == "row_count_check"
    assert ExecuteRequest(execution_mode="single", single_step=5).single_step == 5
    assert LogQuery(step_name="row_count_check").step_name == "row_count_check"
    schema = ExecuteRequest.model_json_schema()["properties"]
    assert "row_count_check" in schema["step_name"]["anyOf"][0]["enum"]
    assert 5 in schema["single_step"]["anyOf"][0]["enum"]


def test_unknown_steps_are_refused_by_the_api_and_the_cli() -> None:
    with pytest.raises(ValueError, match="step must be one of"):
        ExecuteRequest(execution_mode="step", step_name="row_count_check")
    with pytest.raises(ValueError, match="step number must be one of 1, 2, 3, 4"):
        ExecuteRequest(single_step=5)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["step", "--task-id", "t", "--step-name", "row_count_check"])


def test_an_extra_step_joins_complete_runs_and_the_graph(extra_step: StepSpec) -> None:
    assert TaskParameters().selected_steps("complete", None)[-1] == "row_count_check"
    assert TaskParameters(enable_sql_validation=False).selected_steps("complete", None) == [
        "ddl_generation", "qa_generation", "training_load", "row_count_check"]
    graph = pipeline_graph()
    assert ("training_load", "row_count_check") in graph.edges and ("row_count_check", "finalize") in graph.edges
    node = graph.node("row_count_check")
    assert not node.mapped and not node.airflow_only
    assert node.shell_command() == "python -m data_pipeline step --task-id ${task_id} --step-name row_count_check"


def test_an_extra_step_is_a_task_of_the_dag_before_finalize(tmp_path: Path) -> None:
    """Airflow is loaded in a subprocess (as the other DAG tests do); it registers the same spec."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.update({"AIRFLOW_HOME": str(tmp_path / "airflow_home"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/airflow.db",
                "PYTHONPATH": os.pathsep.join([str(ROOT / "include"), str(ROOT / "plugins"),
                                               env.get("PYTHONPATH", "")])})
    spec = {k: getattr(EXTRA, k) for k in EXTRA.__dataclass_fields__}
    done = subprocess.run([sys.executable, "-c", DAG_PROBE, json.dumps(spec)], capture_output=True, text=True,
                          env=env, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    tasks = json.loads(done.stdout.strip().splitlines()[-1])
    assert tasks["training_load"]["down"] == ["row_count_check"]
    assert tasks["row_count_check"] == {"down": ["finalize"], "trigger_rule": "none_failed"}
    assert len(tasks) == 10


def test_an_extra_step_runs_and_logs_under_its_name(extra_step: StepSpec, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["run", "--no-db-tracking", "--output-dir", str(out), "--execution-mode", "step",
                 "--step-name", "row_count_check", "--business-context", "demo"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0, result
    assert result["steps"]["row_count_check"]["status"] == "completed"
    assert "[row_count_check] counted the rows of 0 tables" in (out / "data_pipeline.log").read_text()
    assert json.loads((out / "row_count_check_result.json").read_text())["items_completed"] == 1


def test_prepare_accepts_an_empty_step_name_as_none() -> None:
    """DolphinScheduler substitutes ``${step_name}`` as is: empty for a complete run."""
    parser = build_parser()
    for argv in (["--step-name", ""], ["--step-name"], ["--step-name", "--execution-mode", "complete"]):
        assert parser.parse_args(["prepare", "--task-id", "t", *argv]).step_name is None, argv
    assert "--step-name ${step_name}" in pipeline_graph().node("prepare").shell_command()
    with pytest.raises(SystemExit):
        parser.parse_args(["prepare", "--task-id", "t", "--step-name", "nope"])


def test_the_workflow_package_does_not_import_the_cli() -> None:
    """``cli`` calls ``workflow``; the other direction would be a cycle."""
    for path in (ROOT / "include" / "data_pipeline" / "workflow").glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "data_pipeline.cli" not in imported, path.name


def test_step_protocols_are_all_a_step_module_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "half_step.py").write_text(textwrap.dedent("""
        class Half:
            def run(self, ctx): ...
        IMPLEMENTATION = Half()
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = StepSpec(name="half", number=9, module="half_step", title="t", description="d", batched=True)
    with pytest.raises(TypeError, match="must implement BatchedStep"):
        spec.load()
