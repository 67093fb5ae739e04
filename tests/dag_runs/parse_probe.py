"""Run in a subprocess by test_dagbag: parse dags/ and report errors, DAGs, time and network use."""

import json
import socket
import sys
import time

connects: list[str] = []


def _audit(event: str, args: tuple) -> None:
    if event in ("socket.connect", "socket.getaddrinfo"):
        connects.append(f"{event} {args[1:] if event == 'socket.connect' else args[:2]}")


sys.addaudithook(_audit)
sys.path.insert(0, sys.argv[2])  # plugins folder, as Airflow puts it on sys.path

from airflow.dag_processing.dagbag import DagBag  # noqa: E402

start = time.perf_counter()
bag = DagBag(sys.argv[1])
elapsed = time.perf_counter() - start
dags = {dag_id: sorted(t.task_id for t in dag.tasks) for dag_id, dag in bag.dags.items()}
print(json.dumps({"errors": bag.import_errors, "dags": dags, "seconds": elapsed, "connects": connects,
                  "socket_family_unix": socket.AF_UNIX}))
