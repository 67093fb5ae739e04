"""Requests per second of the task list (GET /tasks?limit=50) vs Airflow's own GET /api/v2/version.

Builds its own stores (1,000 and 100,000 tasks) on the embedded PostgreSQL, starts a real Airflow
api-server with the plugin for each, and measures both endpoints with the same client in the same
run (alternating, several rounds). Prints medians; the last line is the ratio list/version at 100k.

    python bench/bench_api_list.py [--seconds 8] [--rounds 3] [--threads 4]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

from data_pipeline.tasks.store import TaskStore
from local_stack import components
from local_stack.airflow_env import local_airflow
from local_stack.demo import free_port
from platform_db import embedded


def seed(uri: str, count: int) -> None:
    store = TaskStore(uri)
    store.migrate()
    store.close()
    with psycopg.connect(uri) as conn:
        conn.execute("TRUNCATE data_pipeline_tasks CASCADE")
        with conn.cursor().copy(
            "COPY data_pipeline_tasks (id, task_name, task_type, status, parameters, created_by, db_name, "
            "business_context, step_status, progress, created_at, directory_exists) FROM STDIN"
        ) as copy:
            statuses = ("completed", "failed", "partial_completed", "pending", "completed")
            base = datetime(2025, 1, 1, tzinfo=UTC)
            for i in range(count):
                copy.write_row((
                    f"task_2025{(i // 86400) % 12 + 1:02d}01_{i % 86400 // 3600:02d}{i % 3600 // 60:02d}{i % 60:02d}"
                    f"_{i:06x}"[:32],
                    f"task number {i}", "data_workflow", statuses[i % 5],
                    '{"db_conn_id": "highway", "table_list": ["bss_company"], "business_context": "demo"}',
                    "api", f"db{i % 20}", "高速公路服务区", '{"ddl_generation": "completed"}', 100,
                    base + timedelta(seconds=i), True,
                ))
        conn.execute("ANALYZE data_pipeline_tasks")


def hammer(url: str, token: str, seconds: float, threads: int) -> float:
    """Requests per second over ``seconds`` with ``threads`` keep-alive clients; every answer must be 200."""
    stop = time.monotonic() + seconds
    counts = [0] * threads
    errors: list[str] = []

    def worker(n: int) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            while time.monotonic() < stop:
                r = client.get(url)
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:200]}")
                    return
                counts[n] += 1

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    start = time.monotonic()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise RuntimeError(f"{url}: {errors[0]}")
    return sum(counts) / (time.monotonic() - start)


def measure(size: int, args: argparse.Namespace) -> tuple[float, float]:
    uri = embedded.ensure_database(f"dp_bench_api_{size}")
    seed(uri, size)
    home = Path(tempfile.mkdtemp(prefix="bench_api_"))
    airflow = local_airflow(home, port=free_port(8200), metadata_db="airflow_bench_api", extra_env={
        "AIRFLOW_CONN_DATA_PIPELINE_DB": uri, "DATA_PIPELINE_DB_URI": uri,
        "DATA_PIPELINE_DATA_DIR": str(home / "data")})
    components.migrate(airflow)
    stack = components.start(airflow, ("api-server",))
    try:
        token = components.wait_ready(stack, dag_id=None, timeout=180)
        list_url = f"{airflow.base_url}/api/v0/data_pipeline/tasks?limit=50"
        version_url = f"{airflow.base_url}/api/v2/version"
        pools_url = f"{airflow.base_url}/api/v2/pools?limit=1"  # an authenticated Airflow read, for scale
        check = httpx.get(list_url, headers={"Authorization": f"Bearer {token}"}).json()
        assert check["data"]["total"] == size and len(check["data"]["tasks"]) == 50, check
        hammer(list_url, token, 2, args.threads)  # warm up both
        hammer(version_url, token, 2, args.threads)
        lists, versions, pools = [], [], []
        for _ in range(args.rounds):
            lists.append(hammer(list_url, token, args.seconds, args.threads))
            versions.append(hammer(version_url, token, args.seconds, args.threads))
            pools.append(hammer(pools_url, token, args.seconds, args.threads))
        ours, theirs, pool = statistics.median(lists), statistics.median(versions), statistics.median(pools)
        print(f"{size:>7} tasks: GET /tasks?limit=50 {ours:7.1f} req/s (rounds {[round(x) for x in lists]}), "
              f"GET /api/v2/version {theirs:7.1f} req/s (rounds {[round(x) for x in versions]}), "
              f"GET /api/v2/pools?limit=1 {pool:7.1f} req/s; ratio list/version {ours / theirs:.2f}, "
              f"list/pools {ours / pool:.2f}", flush=True)
        return ours, theirs
    finally:
        stack.stop()
        embedded.drop_database(f"dp_bench_api_{size}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    small = measure(1_000, args)
    large = measure(100_000, args)
    print(f"list at 100k vs 1k tasks: {large[0] / small[0]:.2f}")
    print(f"ratio list/version at 100,000 tasks: {large[0] / large[1]:.2f}")


if __name__ == "__main__":
    main()
