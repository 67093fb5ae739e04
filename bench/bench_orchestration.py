"""Orchestration overhead: a complete ``data_pipeline`` DAG run vs the same steps in one process.

Builds the demo business database, then, in the same run and several times each:
* ours-direct: ``python -m data_pipeline run`` (prepare, backup, the four steps, finalize in one process);
* airflow: ``airflow dags test data_pipeline -c {...}`` on a migrated metadata DB (every task in its
  own task-runner process, as a worker runs it).
Prints the medians, where the Airflow time goes (task-instance durations from the metadata DB vs
the run's wall time), and last the ratio airflow/direct.

    python bench/bench_orchestration.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from data_pipeline.schema import demo_db
from local_stack import components
from local_stack.airflow_env import local_airflow
from platform_db import embedded, settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    settings.override(allowed_conn_ids="bench_demo")  # the bench's business database connection
    demo = embedded.ensure_database("bench_orch_demo", extensions=())
    demo_db.build_demo_database(demo)
    store = embedded.ensure_database("bench_orch_store")
    work = Path(tempfile.mkdtemp(prefix="bench_orch_"))
    tables = work / "tables.txt"
    tables.write_text("\n".join(demo_db.DEMO_TABLES) + "\n")
    airflow = local_airflow(work / "airflow_home", metadata_db="bench_orch_airflow", extra_env={
        "AIRFLOW_CONN_DATA_PIPELINE_DB": store, "DATA_PIPELINE_DB_URI": store,
        "AIRFLOW_CONN_BENCH_DEMO": demo, "DATA_PIPELINE_DATA_DIR": str(work / "airflow_data")})
    components.migrate(airflow)
    direct_env = {**os.environ, "DATA_PIPELINE_DB_URI": store, "DATA_PIPELINE_DATA_DIR": str(work / "direct_data"),
                  "AIRFLOW_CONN_BENCH_DEMO": demo}
    conf = {"db_conn_id": "bench_demo", "table_list": list(demo_db.DEMO_TABLES), "business_context": "高速公路服务区"}
    direct_times, airflow_times, breakdowns = [], [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "data_pipeline", "run", "--db-conn-id", "bench_demo",
                               "--table-list", str(tables), "--business-context", "高速公路服务区"],
                              env=direct_env, capture_output=True, text=True, timeout=900)
        direct_times.append(time.perf_counter() - start)
        assert done.returncode == 0 and json.loads(done.stdout)["status"] == "completed", done.stdout[-2000:]

        start = time.perf_counter()
        run = subprocess.run([airflow.bin, "dags", "test", "data_pipeline", "-c", json.dumps(conf)], env=airflow.env,
                             capture_output=True, text=True, timeout=900)
        airflow_times.append(time.perf_counter() - start)
        assert run.returncode == 0, run.stdout[-3000:]
        breakdowns.append(breakdown(airflow))
    d, a = statistics.median(direct_times), statistics.median(airflow_times)
    print(f"direct (one process, CLI): median {d:.2f} s  runs {[round(x, 2) for x in direct_times]}")
    print(f"airflow dags test:         median {a:.2f} s  runs {[round(x, 2) for x in airflow_times]}")
    last = breakdowns[-1]
    print(f"where the Airflow time goes (last run): DAG run {last['run_seconds']:.2f} s, sum of task durations "
          f"{last['task_seconds']:.2f} s over {last['tasks']} task instances, of which the pipeline's own step "
          f"work {last['step_seconds']:.2f} s; the rest is task-runner start-up and scheduling between tasks; "
          f"outside the run (CLI start-up, DAG parse, run creation) {a - last['run_seconds']:.2f} s")
    for row in last["rows"]:
        print(f"    {row[0]:<24} map {row[1]:>2}  {row[2]:6.2f} s")
    print(f"ratio airflow/direct: {a / d:.2f}")


def breakdown(airflow: object) -> dict:
    uri = airflow.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(uri) as conn:
        run_id, start, end = conn.execute(
            "SELECT run_id, start_date, end_date FROM dag_run WHERE dag_id = 'data_pipeline' "
            "ORDER BY start_date DESC LIMIT 1").fetchone()
        rows = conn.execute(
            "SELECT task_id, map_index, EXTRACT(EPOCH FROM end_date - start_date)::float FROM task_instance "
            "WHERE dag_id = 'data_pipeline' AND run_id = %s AND start_date IS NOT NULL ORDER BY start_date",
            (run_id,)).fetchall()
    from data_pipeline.tasks.store import TaskStore

    store = TaskStore(airflow.env["DATA_PIPELINE_DB_URI"])
    task = store.list_tasks().items[0]
    steps = sum(s.duration_seconds or 0 for s in store.get_steps(task.id))
    store.close()
    return {"run_seconds": (end - start).total_seconds(), "task_seconds": sum(r[2] for r in rows),
            "tasks": len(rows), "rows": rows, "step_seconds": steps}


if __name__ == "__main__":
    main()
