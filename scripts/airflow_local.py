"""``make up`` / ``make down``: a local Airflow on the embedded PostgreSQL that keeps running."""

import sys

from data_pipeline.tasks.store import TaskStore
from local_stack import components
from local_stack.airflow_env import ADMIN_USER, local_airflow
from local_stack.demo import free_port
from platform_db import embedded


def up() -> int:
    embedded.server()
    TaskStore().migrate()
    airflow = local_airflow(port=free_port())
    components.stop_recorded(airflow)
    components.migrate(airflow)
    stack = components.start(airflow)
    components.wait_ready(stack, timeout=300)
    print(f"Airflow UI:      {airflow.base_url}  (user {ADMIN_USER}, password {airflow.passwords[ADMIN_USER]})")
    print(f"Task API docs:   {airflow.base_url}/api/v0/data_pipeline/docs")
    print(f"Workflow API:    {airflow.base_url}/api/v1/docs")
    print(f"Logs:            {airflow.home / 'logs'}   stop with: make down")
    return 0


def down() -> int:
    stopped = components.stop_recorded(local_airflow())
    print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    return 0


if __name__ == "__main__":
    sys.exit({"up": up, "down": down}[sys.argv[1]]())
