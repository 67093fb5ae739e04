"""Operators of the pipeline DAGs; a ``PipelineTaskOperator`` fails its pipeline task when killed for good."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException


class PipelineTaskOperator(BaseOperator):
    """An operator of a pipeline DAG: when killed for good, the pipeline task fails at once.

    ``on_kill`` runs in the task's process on SIGTERM (the run or task marked failed, a timeout)
    and gets no context, so ``execute`` keeps the task instance and the pipeline task id for it.
    """

    pipeline_task_id: str | None = None

    def remember_run(self, context: Any) -> None:
        self._killed_ti = context["ti"]

    def on_kill(self) -> None:
        from data_pipeline_airflow.callbacks import fail_killed_task

        ti = getattr(self, "_killed_ti", None)
        if ti is not None:
            fail_killed_task(ti, pipeline_task_id=self.pipeline_task_id or None)


class BackupTaskFilesOperator(PipelineTaskOperator):
    """Before a complete run, move the previous run's files into ``file_bak_<timestamp>``.

    Skipped in step mode. A file that cannot be moved is recorded in ``backup_info.json`` and the
    run continues (the design keeps the workflow going); the summary is returned as XCom.
    """

    template_fields: Sequence[str] = ("pipeline_task_id", "execution_mode")
    ui_color = "#e8f4ea"

    def __init__(self, *, pipeline_task_id: str, execution_mode: str = "complete", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pipeline_task_id = pipeline_task_id
        self.execution_mode = execution_mode

    def execute(self, context: Any) -> dict[str, Any]:
        from data_pipeline.workflow.pipeline import backup_before_run

        self.remember_run(context)
        if self.execution_mode != "complete":
            raise AirflowSkipException(f"execution mode is {self.execution_mode}: no backup in step mode")
        summary = backup_before_run(self.pipeline_task_id)
        if summary["backed_up"]:
            self.log.info("moved %d file(s) into %s; %d failed", len(summary["moved_files"]),
                          summary["backup_directory"], len(summary["failed_files"]))
        else:
            self.log.info("nothing to back up")
        return summary


class DeleteTaskDirectoryOperator(BaseOperator):
    """Delete task directories: the given task ids, or every finished task older than ``older_than_days``."""

    template_fields: Sequence[str] = ("task_ids", "older_than_days")
    ui_color = "#f9e0e0"

    def __init__(self, *, task_ids: list[str] | str | None = None, older_than_days: int | str | None = None,
                 delete_database_records: bool = False, force: bool = False, continue_on_error: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if (task_ids is None) == (older_than_days is None):
            raise ValueError("give exactly one of task_ids or older_than_days")
        self.task_ids = task_ids
        self.older_than_days = older_than_days
        self.delete_database_records = delete_database_records
        self.force = force
        self.continue_on_error = continue_on_error

    def execute(self, context: Any) -> dict[str, Any]:
        from data_pipeline.files.deletion import delete_tasks
        from data_pipeline.tasks.maintenance import apply_retention
        from data_pipeline.tasks.store import default_store

        actor = f"airflow:{context['dag'].dag_id}.{self.task_id}"
        if self.older_than_days is not None:
            result = apply_retention(default_store(), days=int(self.older_than_days),
                                     delete_database_records=self.delete_database_records, actor=actor)
        else:
            ids = [self.task_ids] if isinstance(self.task_ids, str) else list(self.task_ids or [])
            result = delete_tasks(default_store(), ids, confirm=True, force=self.force,
                                  delete_database_records=self.delete_database_records,
                                  continue_on_error=self.continue_on_error, actor=actor).to_dict()
        self.log.info("deleted %d task director(y/ies); %d failed", len(result["deleted_tasks"]),
                      len(result["failed_tasks"]))
        return result
