"""The parameters of a task: what the CLI, the DAG trigger form and the REST API all accept.

Secrets never live here: a business-database URI is stored with its password removed; the password
goes to the task store's secrets table and is put back only when the step connects.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from data_pipeline import STEPS

ExecutionMode = Literal["complete", "step"]


class TaskOptions(BaseModel):
    """The switches a user sets per task (the DAG trigger form and the API's create body show them)."""

    enable_sql_validation: bool = True
    enable_llm_repair: bool = True
    modify_original_file: bool = True
    enable_training_data_load: bool = True
    backup_vector_tables: bool = False
    truncate_vector_tables: bool = False
    batch_size: int = Field(default=50, ge=1, le=1000)


class TaskParameters(TaskOptions):
    model_config = ConfigDict(extra="ignore")

    db_conn_id: str | None = Field(default=None, max_length=250)
    db_connection: str | None = Field(default=None, description="business DB URI; password stripped when stored")
    table_list: list[str] | None = None
    business_context: str = Field(default="", max_length=4000)
    themes: int = Field(default=5, ge=1, le=50)
    questions_per_theme: int = Field(default=10, ge=1, le=100)
    max_retries: int = Field(default=3, ge=1, le=10)
    continue_on_error: bool = True
    sql_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    validation_concurrency: int = Field(default=4, ge=1, le=32)

    @field_validator("db_conn_id")
    @classmethod
    def _conn_id_shape(cls, value: str | None) -> str | None:
        if value is not None and not value.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise ValueError("db_conn_id may contain letters, digits, '_', '-' and '.' only")
        return value

    @model_validator(mode="after")
    def _truncate_implies_backup(self) -> TaskParameters:
        if self.truncate_vector_tables:
            self.backup_vector_tables = True
        return self

    def selected_steps(self, mode: ExecutionMode, step_name: str | None) -> list[str]:
        """The steps a run executes: one in step mode, else all enabled ones in order."""
        if mode == "step":
            if step_name not in STEPS:
                raise ValueError(f"step mode needs step_name, one of {', '.join(STEPS)}")
            return [step_name]
        chosen = ["ddl_generation", "qa_generation"]
        if self.enable_sql_validation:
            chosen.append("sql_validation")
        if self.enable_training_data_load:
            chosen.append("training_load")
        return chosen

    def public(self) -> dict[str, Any]:
        """The parameters as stored and shown: no secrets (the URI is already password-free)."""
        return self.model_dump(mode="json")
