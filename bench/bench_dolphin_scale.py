"""DolphinScheduler publisher at scale.

1. A 5,000-task workflow built in memory: median time of validation (cycle check, entry/exit, task
   checks) and of conversion to DolphinScheduler's JSON (taskDefinitionJson, relations, locations,
   form encoding and content hash) over several runs.
2. A 500-task workflow published to the contract-faithful fake server (real HTTP on 127.0.0.1, a
   scratch database on the embedded PostgreSQL): HTTP calls per operation, task codes in batches.

    .venv/bin/python bench/bench_dolphin_scale.py [--tasks 5000] [--publish-tasks 500] [--runs 7]

The last line is the key figure: HTTP calls of the 500-task publish against the limit of 8.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from dolphin_publisher.checks import validate_definition
from dolphin_publisher.client import DolphinClient, RetryPolicy
from dolphin_publisher.config import IntegrationConfig
from dolphin_publisher.converter import convert
from dolphin_publisher.models import TaskSpec, WorkflowFile, WorkflowSnapshot
from dolphin_publisher.repository import Database
from dolphin_publisher.runtime import Runtime
from platform_db import embedded

TESTS_DIR = Path(__file__).resolve().parents[1] / "tests"
sys.path.append(str(TESTS_DIR))  # appended: the fake server lives with the tests; nothing here shadows packages
from dolphin.fake_dolphinscheduler import FakeDolphinScheduler  # noqa: E402

PROJECT = 7001


def build(count: int, prefix: str) -> tuple[list[TaskSpec], list[tuple[str, str]]]:
    """A layered DAG: a tree (fan-out 3) plus a cross edge every 10 tasks, like a wide ETL graph."""
    tasks = [TaskSpec(task_id=f"{prefix}{i}", name=f"{prefix}task_{i}", command=f"python -m job --part {i}",
                      retries=1, timeout_minutes=30) for i in range(count)]
    edges = [(f"{prefix}{(i - 1) // 3}", f"{prefix}{i}") for i in range(1, count)]
    edges += [(f"{prefix}{i - 7}", f"{prefix}{i}") for i in range(10, count, 10)]
    return tasks, sorted(set(edges))


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench_conversion(count: int, runs: int) -> tuple[float, float]:
    tasks, edges = build(count, "t")
    by_id = {t.task_id: t for t in tasks}
    members = [t.task_id for t in tasks]
    codes = {t.task_id: 10**13 + i for i, t in enumerate(tasks)}
    entry, exit_ = validate_definition(by_id, members, edges)
    snapshot = WorkflowSnapshot(name="bench", tasks=tasks, dependencies=edges, entry_task_ids=entry,
                                exit_task_ids=exit_)

    def conversion() -> None:
        payload = convert(snapshot, codes)
        payload.form()
        payload.content_hash()

    document = WorkflowFile(name="bench", tasks=tasks, dependencies=edges).model_dump_json()
    parse = median_ms(lambda: WorkflowFile.model_validate_json(document), runs)
    validate = median_ms(lambda: validate_definition(by_id, members, edges), runs)
    converted = median_ms(conversion, runs)
    print(f"{count} tasks, {len(edges)} dependencies, {runs} runs")
    print(f"  parsing the workflow file ({len(document) // 1024} KiB JSON) median: {parse:.1f} ms")
    print(f"  validation median: {validate:.1f} ms")
    print(f"  conversion median: {converted:.1f} ms (taskDefinitionJson + relations + locations + form + hash)")
    print(f"  validation + conversion: {validate + converted:.1f} ms")
    return validate, converted


def bench_publish(count: int) -> dict[str, int]:
    name = f"dp_bench_dolphin_{os.getpid()}_{secrets.token_hex(3)}"
    uri = embedded.ensure_database(name)
    fake = FakeDolphinScheduler(projects={PROJECT: "bench"}).start()
    try:
        config = IntegrationConfig(environment="bench", rest_base_url=fake.base_url, token=fake.token,
                                   project_code=PROJECT, project_name="bench")
        runtime = Runtime(Database(uri), config=config, client_factory=lambda c: DolphinClient(
            c.rest_base_url, c.token, c.project_code, retry=RetryPolicy(attempts=3)))
        results: dict[str, int] = {}
        for label, operation in (("deploy", "deploy"), ("online", "online")):
            tasks, edges = build(count, f"{label}_")
            ref = runtime.workflows.create(WorkflowFile(name=f"bench_{label}", tasks=tasks, dependencies=edges),
                                           operator="bench")
            fake.reset_calls()
            start = time.perf_counter()
            with runtime.publisher() as publisher:
                outcome = publisher.publish(ref.workflow_id, operation, operator="bench")
            elapsed = (time.perf_counter() - start) * 1000
            assert outcome.ok, outcome.record.log
            calls = Counter(c.endpoint for c in fake.calls)
            gen = [int(c.query["genNum"]) for c in fake.calls if c.endpoint == "gen-task-codes"]
            results[label] = len(fake.calls)
            print(f"{count}-task {operation} of a new workflow: {len(fake.calls)} HTTP calls in {elapsed:.0f} ms "
                  f"({dict(calls)}; genNum per call {gen})")
            fake.reset_calls()
            with runtime.publisher() as publisher:
                again = publisher.publish(ref.workflow_id, operation, operator="bench")
            writes = len(fake.writes())
            print(f"  same version again: status {again.record.status.value}, {len(fake.calls)} HTTP calls, "
                  f"{writes} writes")
        return results
    finally:
        fake.stop()
        embedded.drop_database(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--publish-tasks", type=int, default=500)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    validate, converted = bench_conversion(args.tasks, args.runs)
    calls = bench_publish(args.publish_tasks)
    print(f"{args.tasks}-task validation + conversion median: {validate + converted:.1f} ms")
    print(f"{args.publish_tasks}-task publish HTTP calls: deploy {calls['deploy']}, online {calls['online']} "
          f"(limit 8) → {calls['online']}/8")


if __name__ == "__main__":
    main()
