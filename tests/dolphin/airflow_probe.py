"""Run by the tests in a subprocess: Airflow is loaded here, never in the pytest process.

(Airflow's logging setup and DAG parsing are process-wide; a subprocess keeps them away from the
other tests, and each test run parses the DAG folders once.)

    airflow_probe.py specs FOLDER::ID,ID [...]   → {folder: {dag_id: {"spec": WorkflowFile, "airflow_tasks": [...]}
                                                                    | {"error": ...}}}
    airflow_probe.py history DAG_FILE            → DAG shape and the result of running its task
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any


def specs(folder: str, dag_ids: list[str]) -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag

    from dolphin_publisher.airflow_import import dag_to_workflow, load_dag, plugins_on_path
    from dolphin_publisher.errors import PublisherError

    plugins_on_path()
    dags = DagBag(dag_folder=folder).dags  # parsed once; load_dag only for the "not found" message
    result: dict[str, Any] = {}
    for dag_id in dag_ids or sorted(dags):
        try:
            dag = dags[dag_id] if dag_id in dags else load_dag(dag_id, folder)
            result[dag_id] = {"spec": dag_to_workflow(dag).model_dump(mode="json"),
                              "airflow_tasks": sorted(dag.task_ids)}
        except PublisherError as exc:
            result[dag_id] = {"error": exc.to_dict()}
    return result


def history(dag_file: str) -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.exceptions import AirflowSkipException

    bag = DagBag(dag_folder=dag_file)
    dag = bag.dags["dolphin_history_sync"]
    shape = {"import_errors": {k: str(v) for k, v in bag.import_errors.items()},
             "cron": dag.timetable.expression, "catchup": dag.catchup, "max_active_runs": dag.max_active_runs,
             "tasks": list(dag.task_dict)}
    try:
        shape["result"] = dag.task_dict["sync_history"].python_callable()
    except AirflowSkipException as exc:
        shape["skipped"] = str(exc)
    return shape


def main() -> None:
    command, *args = sys.argv[1:]
    with contextlib.redirect_stdout(sys.stderr):
        if command == "specs":
            result = {}
            for arg in args:
                folder, _, ids = arg.partition("::")
                result[folder] = specs(folder, [i for i in ids.split(",") if i])
        else:
            result = history(args[0])
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
