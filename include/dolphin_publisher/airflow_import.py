"""Airflow DAG → platform workflow, so a DAG such as ``data_pipeline`` can run on DolphinScheduler.

One SHELL task per Airflow task, the same order of execution, the schedule converted to Quartz, the
DAG params as DolphinScheduler global parameters.

A DAG built from a command graph (the pipeline DAG: ``dag.command_graph``, see
:class:`CommandGraph`) gives each task's command line and the order of execution as plain data;
its Airflow-only nodes are left out. Any other DAG: a task's command is its ``bash_command``, else
the ``shell_command`` key of its ``doc_json``; ``{{ params.NAME }}`` becomes ``${NAME}``, the
DolphinScheduler spelling.

A task whose ``doc_json`` has ``"dolphinscheduler": "skip"`` exists only for Airflow (for example the
planner of a dynamically mapped step, whose CLI command runs every batch itself): it is left out and
its upstream tasks are connected to its downstream tasks. Edges that a longer path already implies
are dropped (Airflow adds one from every task whose XCom a task reads, so ``prepare`` would otherwise
point at every step). Airflow is imported only inside :func:`load_dag`, so the package stays
importable without it.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pydantic

from dolphin_publisher.cron import to_quartz
from dolphin_publisher.errors import CronConversionError, DagImportError
from dolphin_publisher.graph import remove_nodes_keep_order, transitive_reduction
from dolphin_publisher.models import GlobalParam, ScheduleSpec, TaskSpec, TaskType, TriggerSource, WorkflowFile
from platform_db import settings

if TYPE_CHECKING:
    from dolphin_publisher.definitions import WorkflowRef, WorkflowService

_PARAM_REF = re.compile(r"\{\{\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
COMMAND_GRAPH_ATTRIBUTE = "command_graph"


class CommandNode(Protocol):
    """A task of a command graph; ``${NAME}`` in its command is the run parameter (DAG param) NAME."""

    @property
    def id(self) -> str: ...

    @property
    def airflow_only(self) -> bool: ...

    @property
    def description(self) -> str: ...

    def shell_command(self) -> str: ...


class CommandGraph(Protocol):
    """What a DAG built from plain data attaches as ``dag.command_graph`` (node ids are its task ids)."""

    @property
    def nodes(self) -> Sequence[CommandNode]: ...

    @property
    def edges(self) -> Sequence[tuple[str, str]]: ...


def default_dags_folder() -> Path:
    return settings.airflow().dags_folder


def plugins_on_path() -> None:
    """As Airflow does: DAG files may import helpers from the plugins folder."""
    plugins = settings.airflow().plugins_folder
    if plugins.is_dir() and str(plugins) not in sys.path:
        sys.path.append(str(plugins))


def load_dag(dag_id: str, dags_folder: str | Path | None = None) -> Any:
    """Parse the folder with Airflow's DagBag and return the DAG (Airflow logs go to stderr)."""
    folder = Path(dags_folder) if dags_folder else default_dags_folder()
    if not folder.exists():
        raise DagImportError(f"DAG folder {folder} does not exist")
    plugins_on_path()
    with contextlib.redirect_stdout(sys.stderr):
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(folder))
    dag = bag.dags.get(dag_id)
    if dag is None:
        errors = "; ".join(f"{Path(f).name}: {str(e).strip().splitlines()[-1] if str(e).strip() else e}"
                           for f, e in bag.import_errors.items())
        suffix = f" (import errors: {errors})" if errors else ""
        raise DagImportError(f"DAG {dag_id!r} not found in {folder}{suffix}")
    return dag


def _minutes(value: Any) -> int:
    if isinstance(value, timedelta):
        return math.ceil(value.total_seconds() / 60)
    if isinstance(value, int | float):
        return math.ceil(value / 60)
    return 0


def _command(task: Any) -> str:
    bash = getattr(task, "bash_command", None)
    if isinstance(bash, str) and bash.strip():
        command = bash
    else:
        doc = _doc_json(task)
        command = doc.get("shell_command") if isinstance(doc.get("shell_command"), str) else ""
        if not command.strip():
            raise DagImportError(
                f"task {task.task_id!r} has no command DolphinScheduler can run: give it a bash_command or "
                'doc_json with {"shell_command": "..."}'
            )
    command = _PARAM_REF.sub(lambda m: "${" + m.group(1) + "}", command)
    if "{{" in command or "{%" in command:
        raise DagImportError(
            f"task {task.task_id!r} uses Airflow templating DolphinScheduler cannot evaluate ({command.strip()!r}); "
            "only {{ params.NAME }} is translated"
        )
    return command


def _doc_json(task: Any) -> dict[str, Any]:
    raw = getattr(task, "doc_json", None)
    if not raw:
        return {}
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise DagImportError(f"task {task.task_id!r} has doc_json that is not valid JSON: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _left_out(task: Any) -> bool:
    value = _doc_json(task).get("dolphinscheduler")
    if value is None:
        return False
    if value != "skip":
        raise DagImportError(f"task {task.task_id!r} has doc_json dolphinscheduler={value!r}; the only value "
                             'understood is "skip" (leave the task out, connect its neighbours)')
    return True


def _schedule(dag: Any) -> ScheduleSpec | None:
    timetable = dag.timetable
    kind = type(timetable).__name__
    if kind == "NullTimetable":
        return None
    expression = getattr(timetable, "expression", None) or getattr(timetable, "_expression", None)
    if not isinstance(expression, str):
        raise DagImportError(
            f"DAG {dag.dag_id!r} has schedule {getattr(dag, 'schedule', None)!r} ({kind}), which has no "
            "DolphinScheduler equivalent: use a cron expression, a cron preset or None"
        )
    zone = getattr(timetable, "timezone", None) or getattr(timetable, "_timezone", None) or dag.timezone
    zone_name = getattr(zone, "name", None) or str(zone or "UTC")
    try:
        to_quartz(expression)
    except CronConversionError as exc:
        raise DagImportError(f"DAG {dag.dag_id!r}: {exc.message}") from exc
    return ScheduleSpec(cron=expression, timezone=zone_name)


def _param_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _params(dag: Any) -> list[GlobalParam]:
    params = []
    for name in dag.params:
        try:
            value = dag.params.get_param(name).value
        except Exception:  # a required param without default has no value yet
            value = None
        params.append(GlobalParam(prop=name, value=_param_value(value)))
    return params


def dag_to_workflow(dag: Any) -> WorkflowFile:
    """The workflow file for ``dag``; platform task ids are ``<dag_id>.<task_id>``."""
    graph: CommandGraph | None = getattr(dag, COMMAND_GRAPH_ATTRIBUTE, None)
    if graph is not None:
        return _graph_to_workflow(dag, graph)
    prefix = f"{dag.dag_id}."
    tasks, problems, left_out = [], [], set()
    for task in sorted(dag.tasks, key=lambda t: t.task_id):
        try:
            if _left_out(task):
                left_out.add(task.task_id)
            else:
                doc = _doc_json(task)
                tasks.append(_task_spec(task, prefix, _command(task), description=str(doc.get("description") or ""),
                                        worker_group=doc.get("worker_group")))
        except DagImportError as exc:
            problems.append(exc.message)
    if problems:
        raise DagImportError("; ".join(problems), problems=problems)
    ids = sorted(task.task_id for task in dag.tasks)
    edges = [(up, task.task_id) for task in dag.tasks for up in task.upstream_task_ids]
    return _workflow(dag, tasks, ids, edges, left_out)


def _graph_to_workflow(dag: Any, graph: CommandGraph) -> WorkflowFile:
    """Commands and order from the graph; retries, timeouts and queue from the Airflow task of each node."""
    prefix = f"{dag.dag_id}."
    by_id = {task.task_id: task for task in dag.tasks}
    missing = [node.id for node in graph.nodes if node.id not in by_id]
    if missing:
        raise DagImportError(f"DAG {dag.dag_id!r} lacks the tasks {', '.join(missing)} of its command graph")
    tasks = [_task_spec(by_id[node.id], prefix, node.shell_command(), description=node.description)
             for node in sorted(graph.nodes, key=lambda n: n.id) if not node.airflow_only]
    left_out = {node.id for node in graph.nodes if node.airflow_only}
    return _workflow(dag, tasks, sorted(node.id for node in graph.nodes), list(graph.edges), left_out)


def _workflow(dag: Any, tasks: list[TaskSpec], ids: list[str], edges: list[tuple[str, str]],
              left_out: set[str]) -> WorkflowFile:
    """Edges through left-out tasks are bridged, then those a longer path implies are dropped."""
    prefix = f"{dag.dag_id}."
    kept = [i for i in ids if i not in left_out]
    dependencies = [(prefix + a, prefix + b)
                    for a, b in transitive_reduction(kept, remove_nodes_keep_order(ids, edges, left_out))]
    try:
        return WorkflowFile(
            name=dag.dag_id, description=str(getattr(dag, "description", None) or ""), schedule=_schedule(dag),
            tasks=tasks, dependencies=dependencies, global_params=_params(dag),
        )
    except pydantic.ValidationError as exc:
        raise DagImportError(f"DAG {dag.dag_id!r} cannot be a workflow: {_pydantic_problems(exc)}") from exc


def _pydantic_problems(exc: pydantic.ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def _task_spec(task: Any, prefix: str, command: str, *, description: str = "",
               worker_group: Any = None) -> TaskSpec:
    queue = getattr(task, "queue", None)
    try:
        return TaskSpec(
            task_id=prefix + task.task_id, name=task.task_id, type=TaskType.SHELL, command=command,
            worker_group=str(worker_group or (queue if isinstance(queue, str) and queue else "default")),
            retries=int(task.retries or 0), retry_delay_minutes=_minutes(task.retry_delay),
            timeout_minutes=_minutes(task.execution_timeout), description=description,
        )
    except pydantic.ValidationError as exc:
        raise DagImportError(f"task {task.task_id!r}: {_pydantic_problems(exc)}") from exc


def import_dag(workflows: WorkflowService, dag_id: str, *, dags_folder: str | Path | None = None,
               operator: str) -> WorkflowRef:
    """Create the workflow or, on a later import, a new version of it (none when nothing changed)."""
    spec = dag_to_workflow(load_dag(dag_id, dags_folder))
    return workflows.create_or_update(spec, operator=operator, trigger=TriggerSource.AIRFLOW_IMPORT)
