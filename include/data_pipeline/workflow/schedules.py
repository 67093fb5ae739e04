"""Scheduled pipelines declared in a config file: one entry (and one scheduled DAG) per business database.

The file is JSON: ``[{"name", "cron", "db_conn_id", "tables", "business_context", "options": {...}}]``.
Read at DAG-parse time, so it must be cheap and local: no database, no network.

One bad entry must not take the others down: Airflow records import errors per file, and an
exception while the file is imported loses every DAG in it. So :func:`load_schedules` checks each
entry on its own (shape, cron syntax, unknown keys and options, types, a name used twice) and
returns the good entries with one message per bad one; only a file that is not a JSON array at
all raises. The DAG file turns the messages into the file's import error by a DAG that fails
Airflow's own check when it is bagged — Airflow keeps the DAGs bagged before and after it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from croniter import CroniterError, croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from data_pipeline import config
from data_pipeline.errors import InvalidInput
from data_pipeline.tasks.parameters import TaskParameters

AIRFLOW_ONLY_PRESETS = frozenset({"@once", "@continuous", "@quarterly"})  # Airflow schedules croniter lacks


class ScheduleEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,60}$")
    cron: str
    db_conn_id: str
    tables: list[str] = Field(min_length=1)
    business_context: str  # every scheduled run creates a task, and a new task needs one
    options: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _cron_shape(cls, value: str) -> str:
        if not (value.startswith("@") or len(value.split()) == 5):
            raise ValueError(f"cron must have 5 fields or be a preset like @daily, got {value!r}")
        if value in AIRFLOW_ONLY_PRESETS:
            return value
        try:  # croniter is what Airflow's cron timetables evaluate with: its reason is the one to show
            croniter(value)
        except CroniterError as exc:
            raise ValueError(f"cron {value!r} is not a valid cron expression ({exc})") from None
        return value

    @field_validator("business_context")
    @classmethod
    def _context_given(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("business_context is required: what the business is about, in a sentence or two")
        return value

    @property
    def dag_id(self) -> str:
        return f"data_pipeline_sched_{self.name}"

    def run_defaults(self) -> dict[str, Any]:
        """Parameter defaults of the scheduled DAG (validated like a task's parameters)."""
        params = {"db_conn_id": self.db_conn_id, "table_list": self.tables,
                  "business_context": self.business_context, **self.options}
        TaskParameters.model_validate(params)
        unknown = set(self.options) - set(TaskParameters.model_fields)
        if unknown:
            raise ValueError(f"unknown options: {sorted(unknown)}")
        return params


def _describe(exc: ValueError) -> str:
    """One line per problem, without pydantic's links: the text lands in Airflow's import errors."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, err['loc'])) or 'entry'}: {err['msg']}" for err in exc.errors())
    return re.sub(r"\s+", " ", str(exc))


@dataclass
class Schedules:
    """The usable entries of a schedules file, and why each of the others was left out."""

    entries: list[ScheduleEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def load_schedules(path: Path | None = None) -> Schedules:
    """Enabled, valid entries and one problem per bad entry; raises only if the file is unusable."""
    path = path or config.schedules_file()
    if not path.exists():
        return Schedules()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path.name} is not valid JSON: {exc}") from None
    if not isinstance(raw, list):
        raise InvalidInput(f"{path.name} must hold a JSON array of schedule entries")
    result = Schedules()
    seen: dict[str, int] = {}
    for index, item in enumerate(raw):
        label = f"{path.name} entry {index}"
        try:
            entry = ScheduleEntry.model_validate(item)
            entry.run_defaults()
        except (ValidationError, ValueError) as exc:
            result.problems.append(f"{label}: {_describe(exc)}")
            continue
        if entry.name in seen:
            result.problems.append(f"{label}: schedule names must be unique; "
                                   f"{entry.name!r} is already entry {seen[entry.name]}")
            continue
        seen[entry.name] = index
        if entry.enabled:
            result.entries.append(entry)
    return result
