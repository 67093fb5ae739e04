"""The parameters of a task: what the CLI, the DAG trigger form and the REST API all accept.

Secrets never live here: a business-database URI is stored with its password removed; the password
goes to the task store's secrets table and is put back only when the step connects.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from data_pipeline.steps import registry

ExecutionMode = Literal["complete", "step"]


class _RegisteredStep:
    """Pydantic schema of a step name (or number): checked against the registry when a value is
    validated, shown as an enum of the registered steps whenever a schema (OpenAPI) is generated."""

    def __init__(self, *, by_number: bool = False) -> None:
        self.by_number = by_number

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        base = core_schema.int_schema() if self.by_number else core_schema.str_schema()
        return core_schema.no_info_after_validator_function(self._check, base)

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        if self.by_number:
            return {"type": "integer", "enum": sorted(registry.step_numbers())}
        return {"type": "string", "enum": list(registry.step_names())}

    def _check(self, value: Any) -> Any:
        if self.by_number:
            if value not in registry.step_numbers():
                raise ValueError(f"step number must be one of {', '.join(map(str, registry.step_numbers()))}")
        elif not registry.is_step(value):
            raise ValueError(f"step must be one of {', '.join(registry.step_names())}")
        return value


StepName = Annotated[str, _RegisteredStep()]
"""A registered step's name (request models use it instead of a Literal fixed at import)."""
StepNumber = Annotated[int, _RegisteredStep(by_number=True)]


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
        """The steps a run executes: one in step mode, else every step whose enabling option is on, in order."""
        if mode == "step":
            if not registry.is_step(step_name):
                raise ValueError(f"step mode needs step_name, one of {', '.join(registry.step_names())}")
            return [step_name]  # type: ignore[list-item]
        return [spec.name for spec in registry.all_steps() if self._enabled(spec.enabled_by)]

    def _enabled(self, option: str | None) -> bool:
        if option is None:
            return True
        if option not in TaskOptions.model_fields:
            raise ValueError(f"a step is enabled by {option!r}, which is not a task option")
        return bool(getattr(self, option))

    def public(self) -> dict[str, Any]:
        """The parameters as stored and shown: no secrets (the URI is already password-free)."""
        return self.model_dump(mode="json")
