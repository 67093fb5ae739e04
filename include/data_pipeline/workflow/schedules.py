"""Scheduled pipelines declared in a config file: one entry (and one scheduled DAG) per business database.

The file is JSON: ``[{"name", "cron", "db_conn_id", "tables", "business_context", "options": {...}}]``.
Read at DAG-parse time, so it must be cheap and local: no database, no network.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from data_pipeline import config
from data_pipeline.errors import InvalidInput
from data_pipeline.tasks.parameters import TaskParameters


class ScheduleEntry(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,60}$")
    cron: str
    db_conn_id: str
    tables: list[str] = Field(min_length=1)
    business_context: str = ""
    options: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _cron_shape(cls, value: str) -> str:
        if value.startswith("@") or len(value.split()) == 5:
            return value
        raise ValueError(f"cron must have 5 fields or be a preset like @daily, got {value!r}")

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


def load_schedules(path: Path | None = None) -> list[ScheduleEntry]:
    path = path or config.schedules_file()
    if not path.exists():
        return []
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path.name} is not valid JSON: {exc}") from None
    if not isinstance(raw, list):
        raise InvalidInput(f"{path.name} must hold a JSON array of schedule entries")
    entries = []
    for index, item in enumerate(raw):
        try:
            entry = ScheduleEntry.model_validate(item)
            entry.run_defaults()
        except (ValidationError, ValueError) as exc:
            detail = re.sub(r"\s+", " ", str(exc))
            raise InvalidInput(f"{path.name} entry {index}: {detail}") from None
        entries.append(entry)
    names = [e.name for e in entries]
    if len(names) != len(set(names)):
        raise InvalidInput(f"{path.name}: schedule names must be unique")
    return [e for e in entries if e.enabled]
