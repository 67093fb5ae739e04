"""One scheduled pipeline DAG per entry of the schedules file (see data_pipeline.workflow.schedules).

Bad entries become this file's import error, naming each of them, while the good entries keep
their DAGs: raising here would drop every DAG of the file, so the problems ride on a stand-in DAG
whose timetable fails the check Airflow runs as it bags each DAG; Airflow records that failure as
the file's import error and still bags the other DAGs of the file.
"""

from airflow.sdk import DAG
from airflow.sdk.bases.timetable import BaseTimetable
from airflow.sdk.exceptions import AirflowTimetableInvalid

from data_pipeline.workflow.schedules import load_schedules
from data_pipeline_airflow.dag_factory import build_pipeline_dag


class RejectedSchedules(BaseTimetable):
    """Never schedules; its validation reports the schedule entries that were left out."""

    can_be_scheduled = False

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems

    def validate(self) -> None:
        raise AirflowTimetableInvalid("\n".join(["schedule entries left out:", *self.problems]))


_schedules = load_schedules()
for _entry in _schedules.entries:
    globals()[_entry.dag_id] = build_pipeline_dag(
        _entry.dag_id,
        schedule=_entry.cron,
        defaults=_entry.run_defaults(),
        description=f"Scheduled training data for {_entry.db_conn_id} ({_entry.cron})",
        tags=["data_pipeline", "text2sql", "scheduled"],
    )
if _schedules.problems:
    rejected_schedules = DAG("data_pipeline_sched__rejected", schedule=RejectedSchedules(_schedules.problems))
