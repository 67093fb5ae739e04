"""Every 5 minutes: the latest 10 DolphinScheduler instances of each online platform workflow.

Thin on purpose: parsing this file touches neither the database nor the network; the task calls
``dolphin_publisher.history.run_scheduled_sync``. Without a DolphinScheduler configuration the
task is skipped rather than failed, so a machine without DolphinScheduler stays green.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="dolphin_history_sync",
    schedule="*/5 * * * *",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=10),
    tags=["dolphinscheduler", "platform"],
    doc_md=__doc__,
)
def dolphin_history_sync() -> None:
    @task(retries=1, retry_delay=timedelta(minutes=1), execution_timeout=timedelta(minutes=4))
    def sync_history() -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        from dolphin_publisher.runtime import run_scheduled_sync

        report = run_scheduled_sync()
        if not report.get("configured"):
            raise AirflowSkipException(report.get("message") or "DolphinScheduler is not configured")
        if report["errors"] and not report["workflows"]:
            raise RuntimeError(f"history sync failed for every workflow: {report['errors']}")
        return report

    sync_history()


dolphin_history_sync()
