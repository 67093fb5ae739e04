"""What a step function receives: the task directory, parameters, logger, and lazily built clients."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from data_pipeline.files.task_dir import atomic_write_text
from data_pipeline.schema.business_db import BusinessDatabase, resolve
from data_pipeline.secrets_mask import mask
from data_pipeline.steps.state import StepState
from data_pipeline.tasks.log import TaskLogger
from data_pipeline.tasks.parameters import TaskParameters

if TYPE_CHECKING:
    from data_pipeline.generation.embedding import Embedder
    from data_pipeline.generation.generator import Generator
    from data_pipeline.tasks.store import TaskStore


class StepResult(BaseModel):
    """What a step reports; written to ``<step>_result.json`` and the task store."""

    step: str
    status: Literal["completed", "failed"] = "completed"
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_seconds: float | None = None
    items_total: int = 0
    items_completed: int = 0
    items_failed: int = 0
    items_skipped: int = 0
    resumed: bool = False
    already_completed: int = 0
    outputs: list[str] = Field(default_factory=list)
    errors: list[dict[str, Any]] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)
    error_message: str | None = None


@dataclass
class StepContext:
    task_dir: Path
    params: TaskParameters
    log: TaskLogger
    task_id: str | None = None
    store: TaskStore | None = None
    execution_id: str = ""
    try_number: int = 1
    dag_run_id: str | None = None
    db_password: str | None = field(default=None, repr=False)
    run_key: str | None = None
    """Which run of the task this is (the claim's start time): per-item state resumes only within one run."""
    generator_override: Generator | None = None
    embedder_override: Embedder | None = None
    _business_db: BusinessDatabase | None = field(default=None, repr=False)
    _generator: Generator | None = field(default=None, repr=False)
    _embedder: Embedder | None = field(default=None, repr=False)

    @property
    def business_db(self) -> BusinessDatabase:
        if self._business_db is None:
            self._business_db = resolve(db_conn_id=self.params.db_conn_id, db_connection=self.params.db_connection,
                                        password=self.db_password)
        return self._business_db

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            if self.generator_override is not None:
                self._generator = self.generator_override
            else:
                from data_pipeline.generation.generator import make_generator

                self._generator = make_generator()
        return self._generator

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            if self.embedder_override is not None:
                self._embedder = self.embedder_override
            else:
                from data_pipeline.generation.embedding import make_embedder

                self._embedder = make_embedder()
        return self._embedder

    def for_step(self, step: str) -> StepContext:
        """The same context with a logger that tags lines with ``step``."""
        ctx = StepContext(**{k: getattr(self, k) for k in self.__dataclass_fields__})
        ctx.log = self.log.for_step(step)
        return ctx

    def state(self, step: str, scope: str = "all") -> StepState:
        return StepState(self.task_dir, step, scope, max_retries=self.params.max_retries, run_key=self.run_key)

    def progress(self, done: int, total: int, *, what: str = "items", force: bool = False) -> None:
        self.log.progress(done, total, force=force, what=what)

    def output_path(self, name: str) -> Path:
        return self.task_dir / name

    def write_json(self, name: str, doc: Any) -> Path:
        path = self.task_dir / name
        atomic_write_text(path, mask(json.dumps(doc, ensure_ascii=False, indent=2, default=str)))
        return path
