"""Builds the pipeline DAG: the on-demand ``data_pipeline`` and one scheduled DAG per configured database.

Only wiring lives here: the tasks and their order come from the pipeline graph
(``data_pipeline.workflow.graph``, built from the step registry), and each task calls one function of
``data_pipeline.workflow.pipeline``. Nothing runs at parse time except building the DAG object (no
database, no network). The graph is attached to the DAG as ``command_graph``: the DolphinScheduler
import takes each task's command line from it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, Param, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from data_pipeline import config
from data_pipeline.steps import registry
from data_pipeline.tasks.ids import TASK_ID_PATTERN
from data_pipeline.workflow.graph import Node, PipelineGraph, pipeline_graph
from data_pipeline_airflow.callbacks import fail_pipeline_task

TRAINING_DATA = Asset(name="text2sql_training_data", uri="pgvector://data_pipeline/text2sql_training_data")
OUTLETS: dict[str, list[Asset]] = {"training_load": [TRAINING_DATA]}
"""Assets a step updates: downstream DAGs can be scheduled on them."""

_DOC = """
### Text-to-SQL training-data pipeline

{chain}.

* **complete** runs every enabled step; earlier outputs are moved to `file_bak_<time>/` first.
* **step** runs one step on an existing task; nothing is backed up.

Leave *task_id* empty to create a new task from the business-database fields below; with a
*task_id* the task's stored parameters are used and only the execution mode/step are read from here.
Every step resumes after a retry: finished tables, pairs and documents are not redone.
"""


def _task_doc(node: Node) -> str:
    command = f"\n\nCommand line: `{node.shell_command()}`" if node.argv else ""
    return node.description + command


def pipeline_params(defaults: dict[str, Any] | None = None) -> dict[str, Param]:
    """The trigger form. Only what every run needs is required; the fields for a new task may stay empty
    (Airflow's form treats a type without ``null`` as required and an empty list or text as missing)."""
    d = {
        "task_id": None, "execution_mode": "complete", "step_name": None, "db_conn_id": None, "table_list": None,
        "business_context": None, "enable_sql_validation": True, "enable_llm_repair": True,
        "modify_original_file": True, "enable_training_data_load": True, "backup_vector_tables": False,
        "truncate_vector_tables": False, "batch_size": 50,
    }
    d.update(defaults or {})
    task_section, db_section, opt_section = "Task", "Business database (new tasks)", "Options (new tasks)"
    steps = registry.all_steps()
    step_display = {"null": "— (complete workflow: every enabled step)"}
    step_display.update({s.name: f"{s.number}. {s.title}" for s in steps})
    return {
        "task_id": Param(d["task_id"], type=["null", "string"], pattern=TASK_ID_PATTERN, title="Task id",
                         section=task_section,
                         description_md="An existing task (`task_YYYYMMDD_HHMMSS`): runs it with its stored "
                                        "settings, and the fields below are ignored. Empty: create a new task "
                                        "from the fields below."),
        "execution_mode": Param(d["execution_mode"], type="string", enum=["complete", "step"], title="Execution mode",
                                section=task_section, values_display={"complete": "Complete workflow",
                                                                      "step": "One step"},
                                description="Complete runs every enabled step and first moves earlier outputs "
                                            "to a backup folder; One step runs only the step below."),
        "step_name": Param(d["step_name"], type=["null", "string"], enum=[None, *registry.step_names()], title="Step",
                           section=task_section, values_display=step_display,
                           description="The step to run when the execution mode is One step."),
        "db_conn_id": Param(d["db_conn_id"], type=["null", "string"], title="Business DB connection",
                            section=db_section,
                            description_md="Id of the Airflow connection (Admin → Connections) to the business "
                                           "PostgreSQL database whose tables are documented, e.g. `highway_demo` "
                                           "for the demo database."),
        "table_list": Param(d["table_list"], type=["null", "array"], items={"type": "string"}, title="Tables",
                            section=db_section,
                            description="Tables to process, one per line: table or schema.table."),
        "business_context": Param(d["business_context"], type=["null", "string"], maxLength=4000,
                                  title="Business context", section=db_section,
                                  description="Required for a new task (empty Task id): what the business is "
                                              "about, in a sentence or two; the prompts use it for comments, "
                                              "themes and questions."),
        "enable_sql_validation": Param(d["enable_sql_validation"], type="boolean", title="Validate SQL",
                                       section=opt_section,
                                       description="Check every generated SQL with EXPLAIN on the business "
                                                   "database (nothing is executed)."),
        "enable_llm_repair": Param(d["enable_llm_repair"], type="boolean", title="Repair invalid SQL with the LLM",
                                   section=opt_section,
                                   description="Ask the LLM to fix SQL that fails validation (needs an LLM)."),
        "modify_original_file": Param(d["modify_original_file"], type="boolean", title="Rewrite the pair file",
                                      section=opt_section,
                                      description="Replace repaired SQL, drop unrepairable pairs (a backup is kept)."),
        "enable_training_data_load": Param(d["enable_training_data_load"], type="boolean", title="Load training data",
                                           section=opt_section,
                                           description="Embed the DDL, documentation and question/SQL pairs into "
                                                       "the vector store the assistant reads."),
        "backup_vector_tables": Param(d["backup_vector_tables"], type="boolean", title="Back up vector tables",
                                      section=opt_section,
                                      description="Copy the vector tables to CSV files in the task folder before "
                                                  "loading."),
        "truncate_vector_tables": Param(d["truncate_vector_tables"], type="boolean", title="Empty vector tables first",
                                        section=opt_section, description="Implies a backup."),
        "batch_size": Param(d["batch_size"], type="integer", minimum=1, maximum=1000, title="Batch size",
                            section=opt_section, description="Tables per ddl_generation batch (parallel workers)."),
    }


def build_pipeline_dag(dag_id: str, *, schedule: str | None = None, defaults: dict[str, Any] | None = None,
                       description: str = "Text-to-SQL training data: DDL docs, Q/SQL pairs, validation, load",
                       tags: list[str] | None = None) -> DAG:
    scheduled = schedule is not None
    graph = pipeline_graph()
    with DAG(
        dag_id=dag_id,
        description=description,
        schedule=schedule,
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        params=pipeline_params(defaults),
        default_args={"retries": 2, "retry_delay": timedelta(seconds=config.limits().task_retry_delay_seconds),
                      "retry_exponential_backoff": 2.0, "on_failure_callback": fail_pipeline_task},
        max_active_runs=4,
        tags=tags or ["data_pipeline", "text2sql"],
        doc_md=_DOC.format(chain=graph.chain_text()),
        render_template_as_native_obj=True,
    ) as dag:
        _add_tasks(graph, dag_id=dag_id, scheduled=scheduled)
    dag.command_graph = graph  # type: ignore[attr-defined]  # read by dolphin_publisher.airflow_import
    return dag


def _add_tasks(graph: PipelineGraph, *, dag_id: str, scheduled: bool) -> None:
    """One Airflow task per graph node, wired along the graph's edges (inside the DAG's context)."""

    @task(multiple_outputs=True, retries=1, doc_md=_task_doc(graph.node("prepare")))
    def prepare() -> dict[str, Any]:
        ctx = get_current_context()
        return run_prepare(dict(ctx["params"]), dag_id=dag_id, dag_run_id=ctx["run_id"], scheduled=scheduled)

    @task(trigger_rule="all_done", retries=1, doc_md=_task_doc(graph.node("finalize")))
    def finalize(pipeline_task_id: str | None) -> dict[str, Any]:
        from data_pipeline.workflow.pipeline import finalize_task

        ctx = get_current_context()
        task_id = pipeline_task_id or ctx["params"].get("task_id")
        if not task_id:
            raise AirflowFailException("prepare failed before a task existed; see the prepare task log")
        result = finalize_task(task_id, dag_run_id=ctx["run_id"])
        if result["status"] != "completed":
            failed = ", ".join(k for k, v in result["steps"].items() if v["status"] == "failed") or "-"
            not_run = ", ".join(result["not_run"]) or "-"
            raise AirflowFailException(f"task {task_id} finished {result['status']}; failed: {failed}; "
                                       f"not run: {not_run}")
        return {"task_id": task_id, "status": result["status"], "outputs": len(result.get("outputs", []))}

    from data_pipeline_airflow.operators import BackupTaskFilesOperator

    prep = prepare()
    made: dict[str, Any] = {"prepare": prep}
    for node in graph.nodes:
        if node.kind == "prepare":
            continue
        if node.kind == "backup":
            made[node.id] = BackupTaskFilesOperator(
                task_id=node.id,
                pipeline_task_id="{{ ti.xcom_pull(task_ids='prepare', key='task_id') }}",
                execution_mode="{{ ti.xcom_pull(task_ids='prepare', key='execution_mode') }}",
                doc_md=_task_doc(node),
                retries=1,
            )
        elif node.kind == "plan":
            made[node.id] = _plan_task(node)(prep["task_id"])
        elif node.kind == "step" and node.mapped:
            assert node.planned_by is not None
            made[node.id] = _batch_task(node).partial(pipeline_task_id=prep["task_id"]).expand(
                batch=made[node.planned_by])
        elif node.kind == "step":
            made[node.id] = _step_task(node)(prep["task_id"])
        else:
            made[node.id] = finalize(prep["task_id"])
    for upstream, downstream in graph.edges:
        made[upstream] >> made[downstream]


def run_prepare(params: dict[str, Any], *, dag_id: str, dag_run_id: str, scheduled: bool) -> dict[str, Any]:
    """``prepare`` of a run; a mistake in the request or the configuration fails it without a retry."""
    from data_pipeline.errors import PipelineError
    from data_pipeline.workflow.pipeline import prepare_for_run

    try:
        return prepare_for_run(params, dag_id=dag_id, dag_run_id=dag_run_id, scheduled=scheduled)
    except PipelineError as exc:
        if exc.http_status < 500:  # retrying cannot fix what the user or the operator must change
            raise AirflowFailException(exc.message) from None
        raise


def _step_task(node: Node) -> Any:
    step = node.id
    extra: dict[str, Any] = {"outlets": OUTLETS[step]} if step in OUTLETS else {}

    @task(task_id=step, trigger_rule="none_failed", doc_md=_task_doc(node), **extra)
    def run_step(pipeline_task_id: str) -> dict[str, Any]:
        from data_pipeline.workflow.pipeline import run_step_for_run

        ctx = get_current_context()
        out = run_step_for_run(pipeline_task_id, step, try_number=ctx["ti"].try_number, dag_run_id=ctx["run_id"])
        if out is None:
            raise AirflowSkipException(f"{step} is not part of this run")
        return _summary(out)

    return run_step


def _batch_task(node: Node) -> Any:
    """A batched step: one mapped task instance per planned batch, on any worker."""
    step = node.id
    extra: dict[str, Any] = {"outlets": OUTLETS[step]} if step in OUTLETS else {}

    @task(task_id=step, trigger_rule="none_failed", doc_md=_task_doc(node), **extra)
    def run_batch(batch: int, pipeline_task_id: str) -> dict[str, Any]:
        from data_pipeline.workflow.pipeline import run_step_batch

        ctx = get_current_context()
        out = run_step_batch(pipeline_task_id, step, batch, try_number=ctx["ti"].try_number,
                             dag_run_id=ctx["run_id"])
        if out is None:
            raise AirflowSkipException(f"{step} is not part of this run")
        return _summary(out)

    return run_batch


def _plan_task(node: Node) -> Any:
    step = node.step

    @task(task_id=node.id, trigger_rule="none_failed", retries=1, doc_md=_task_doc(node))
    def plan(pipeline_task_id: str) -> list[int]:
        from data_pipeline.workflow.pipeline import plan_step_batches

        assert step is not None
        return plan_step_batches(pipeline_task_id, step)

    return plan


def _summary(out: dict[str, Any]) -> dict[str, Any]:
    """The small, secret-free part of a step result that goes to XCom."""
    keys = ("step", "status", "items_total", "items_completed", "items_failed", "items_skipped", "resumed",
            "already_completed", "duration_seconds")
    summary = {k: out.get(k) for k in keys}
    if "merged" in out:
        summary["merged"] = {k: out["merged"].get(k) for k in keys}
    return summary
