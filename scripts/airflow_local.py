"""``make up`` / ``make down``: a local Airflow on the embedded PostgreSQL that keeps running."""

import sys

from data_pipeline import config
from data_pipeline.schema import demo_db
from data_pipeline.tasks.store import TaskStore
from local_stack import components
from local_stack.airflow_env import ADMIN_USER, local_airflow
from local_stack.demo import free_port
from platform_db import embedded


def up() -> int:
    embedded.server()
    TaskStore().migrate()
    # The demo business database and its connection, so the README's examples work as written.
    demo_uri = embedded.ensure_database(demo_db.DEMO_DATABASE, extensions=())
    demo_db.build_demo_database(demo_uri)
    airflow = local_airflow(port=free_port(), extra_env={config.connection_env_name(config.DEMO_DB_CONN_ID): demo_uri})
    components.stop_recorded(airflow)
    components.migrate(airflow)
    stack = components.start(airflow)
    components.wait_ready(stack, timeout=300)
    print(f"Airflow UI:      {airflow.base_url}  (user {ADMIN_USER}, password {airflow.passwords[ADMIN_USER]})")
    print(f"Task API docs:   {airflow.base_url}/api/v0/data_pipeline/docs")
    print(f"Workflow API:    {airflow.base_url}/api/v1/docs")
    print(f"Demo database:   connection {config.DEMO_DB_CONN_ID} (the README's examples use it)")
    print(f"Logs:            {airflow.home / 'logs'}   stop with: make down")
    return 0


def down() -> int:
    stopped = components.stop_recorded(local_airflow())
    print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    return 0


if __name__ == "__main__":
    sys.exit({"up": up, "down": down}[sys.argv[1]]())
