"""The plan of ``ddl_generation``: the resolved table list split into batches, and the file names per table.

The plan is a file in the task's state directory because the batches may run on other workers; each
batch's fingerprint includes the plan's creation time so a batch only ever resumes within its plan.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, Field

from data_pipeline.errors import InvalidInput
from data_pipeline.files.table_list import TableRef
from data_pipeline.files.task_dir import atomic_write_text, state_dir
from data_pipeline.steps.context import StepContext
from data_pipeline.steps.state import fingerprint

STEP = "ddl_generation"
MAPPING_FILE = "filename_mapping.txt"
PLAN_FILE = "plan.json"
BATCH_RESULT_FILE = "batch_result.json"
RENDER_VERSION = 1  # bump when the file formats change: a resumed run must not mix old and new files


class Plan(BaseModel):
    """The resolved table list split into batches; shared by every batch (possibly on other workers)."""

    fingerprint: str
    generator: str
    batch_size: int
    tables: list[tuple[str, str]]
    previous_tables: list[tuple[str, str]] = Field(default_factory=list)  # last plan's, to drop stale files
    finished: bool = False
    created_at: datetime

    @cached_property
    def refs(self) -> list[TableRef]:
        return [TableRef(s, n) for s, n in self.tables]

    @property
    def batch_count(self) -> int:
        return (len(self.tables) + self.batch_size - 1) // self.batch_size

    def batch(self, index: int) -> list[TableRef]:
        return self.refs[index * self.batch_size:(index + 1) * self.batch_size]

    def batches(self) -> list[list[TableRef]]:
        return [self.batch(i) for i in range(self.batch_count)]


def ddl_file(ref: TableRef) -> str:
    return f"{ref.file_stem}.ddl"


def detail_file(ref: TableRef) -> str:
    return f"{ref.file_stem}_detail.md"


def step_dir(ctx: StepContext) -> Path:
    """The step's state directory: the plan and one scope per batch."""
    return state_dir(ctx.task_dir) / STEP


def batch_scope(index: int) -> str:
    """The ``StepState`` scope of batch ``index``."""
    return f"batch_{index:04d}"


def read_plan(ctx: StepContext) -> Plan | None:
    """The current plan, or None when there is none or it cannot be read."""
    try:
        return Plan.model_validate_json((step_dir(ctx) / PLAN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_plan(ctx: StepContext, plan: Plan) -> None:
    """Durable: every batch, possibly on another worker, reads it."""
    atomic_write_text(step_dir(ctx) / PLAN_FILE, plan.model_dump_json(indent=1))


def batch_fingerprint(ctx: StepContext, plan: Plan, refs: list[TableRef]) -> str:
    """Includes the plan's creation time: a batch resumes only within the plan it belongs to, so a new
    plan (the run after a finished one) starts every batch afresh whatever its scope's finished mark."""
    return fingerprint(STEP, RENDER_VERSION, [r.qualified for r in refs], ctx.params.business_context,
                       plan.generator, plan.created_at.isoformat())


def check_file_names(ctx: StepContext, refs: list[TableRef]) -> None:
    """Two tables must never write the same file; names differing only in case are flagged for
    case-insensitive file systems (a download unpacked on macOS or Windows)."""
    exact: dict[str, TableRef] = {}
    folded: dict[str, TableRef] = {}
    for ref in refs:
        stem = ref.file_stem
        if stem in exact:
            raise InvalidInput(f"tables {exact[stem].qualified} and {ref.qualified} would write the same files "
                               f"({stem}.ddl); list only one of them per task")
        if stem.casefold() in folded:
            ctx.log.warning(f"tables {folded[stem.casefold()].qualified} and {ref.qualified} have file names that "
                            "differ only in case; they collide on case-insensitive file systems")
        exact[stem] = ref
        folded[stem.casefold()] = ref
