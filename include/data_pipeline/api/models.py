"""Request and response models of the task API (Pydantic; they make the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from data_pipeline.tasks.parameters import StepName, StepNumber, TaskOptions
from data_pipeline.tasks.status import TaskStatus

TEXT_NOT_BLANK = r"^[^\x00]*[^\x00\s][^\x00]*$"  # something besides spaces, and no NUL (the document's rule)
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL: refused as invalid input, not failed on as 500


SEED_FIELDS_REFUSED = {
    "table_list_file": "the API never reads a file on the server; give table_list, or upload table_list.txt "
                       "with POST /tasks/{task_id}/table-list",
    "output_dir": "the data directory is the operator's setting (DATA_PIPELINE_DATA_DIR), not a request's",
    "execution_mode": "a task is created first and run with POST /tasks/{task_id}/execute "
                      "{execution_mode, step_name or single_step}",
    "single_step": "a task is created first and run with POST /tasks/{task_id}/execute "
                   "{execution_mode: step, single_step}",
}
"""Fields of the original design's create body that this API does not take, with what to do instead."""


class CreateTaskRequest(TaskOptions):
    """Flat body; the original design's nested form ``{"task_type", "parameters": {...}}`` is accepted too."""

    model_config = ConfigDict(extra="forbid")

    task_name: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    task_type: str = Field(default="data_workflow", max_length=50, pattern=NO_NUL)
    db_connection: str | None = Field(default=None, max_length=2000, pattern=NO_NUL,
                                      description="postgresql:// URI; its password is stored apart and never returned",
                                      examples=["postgresql://analyst:secret@db.example.org:5432/sales"])
    db_conn_id: str | None = Field(default=None, max_length=250, pattern=NO_NUL,
                                   description="Airflow connection id instead of a URI")
    table_list: list[str] | None = Field(default=None, max_length=1000,
                                         description="tables (table or schema.table); or upload table_list.txt later")
    business_context: str = Field(max_length=4000, pattern=NO_NUL, json_schema_extra={"pattern": TEXT_NOT_BLANK},
                                  description="required: what the business is about, in a sentence or two "
                                              "(the prompts use it)")
    parameters: dict[str, Any] | None = Field(default=None, description="nested form of the same fields")

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, data: Any) -> Any:
        data = cls._merged(data)
        if isinstance(data, dict):  # before the fields: named even when another field is missing too
            if not data.get("db_connection") and not data.get("db_conn_id"):
                raise ValueError("give db_connection (a postgresql:// URI) or db_conn_id (an Airflow connection)")
            if data.get("db_connection") and data.get("db_conn_id"):
                raise ValueError("give either db_connection or db_conn_id, not both")
        return data

    @field_validator("business_context")
    @classmethod
    def _context_given(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("business_context is required for a new task: describe in a sentence or two what the "
                             "business is about")
        return value

    @staticmethod
    def _merged(data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("parameters"), dict):
            nested = dict(data["parameters"])
            refused = [(name, why) for name, why in SEED_FIELDS_REFUSED.items() if name in nested]
            if refused:  # said out loud, never dropped silently
                raise ValueError("; ".join(f"parameters.{name} is not accepted: {why}" for name, why in refused))
            merged = {k: v for k, v in data.items() if k != "parameters"}
            for key, value in nested.items():
                merged.setdefault(key, value)
            return merged
        return data


class ExecuteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    execution_mode: Literal["complete", "step", "single"] = "complete"
    step_name: StepName | None = None
    single_step: StepNumber | None = None


class DeleteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirm: bool | None = None
    delete_database_records: bool = False
    force: bool = False


class BatchDeleteRequest(DeleteRequest):
    task_ids: list[str] = Field(min_length=1, max_length=1000)
    continue_on_error: bool = True


class TableListRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tables: list[str] = Field(min_length=1, max_length=1000)


class LogQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: list[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]] | None = None
    step_name: StepName | None = None
    keyword: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    start_time: datetime | None = None
    end_time: datetime | None = None
    page: int = Field(default=1, ge=1, le=100_000)
    page_size: int = Field(default=50, ge=1, le=1000)
    newest_first: bool = False


class TaskQueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: list[TaskStatus] | None = None
    task_type: str | None = Field(default=None, max_length=50, pattern=NO_NUL)
    created_by: str | None = Field(default=None, max_length=256, pattern=NO_NUL,
                                   description="who created the task: a user's name, or manual, schedule, airflow")
    db_name: str | None = Field(default=None, max_length=100, pattern=NO_NUL)
    keyword: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    created_after: datetime | None = None
    created_before: datetime | None = None
    directory_exists: bool | None = None
    sort_by: Literal["created_at", "updated_at", "started_at", "completed_at", "status", "id", "task_name",
                     "progress", "db_name"] = "created_at"
    sort_order: Literal["asc", "desc"] = "desc"
    page: int = Field(default=1, ge=1, le=100_000)
    page_size: int = Field(default=20, ge=1, le=1000)


class VectorRestoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backup_name: str = Field(max_length=100)
    mode: Literal["replace", "merge"] = "replace"
