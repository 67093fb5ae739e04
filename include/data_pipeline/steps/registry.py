"""The pipeline's steps, declared once; the CLI, the API, the DAG, the task log and the runner read them here.

A step is a :class:`StepSpec` (plain, frozen data) naming the module that implements it. The module
exports ``IMPLEMENTATION``, an object satisfying :class:`Step` or, for a step an orchestrator fans
out over workers, :class:`BatchedStep`. Implementations are imported only when a step runs, so
reading the registry (the CLI parser, the DAG file, the API schema) stays cheap.

:func:`register` adds a step at run time (a deployment's extra step, a test's throwaway step);
every consumer reads the registry when it builds its view, never a copy taken at import.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, overload, runtime_checkable

from data_pipeline.errors import InvalidInput

if TYPE_CHECKING:
    from data_pipeline.steps.context import StepContext, StepResult

IMPLEMENTATION = "IMPLEMENTATION"
"""The name under which a step module exports its implementation object."""

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}$")  # a CLI argument, a DAG task id, a task-store column value


@runtime_checkable
class Step(Protocol):
    """A step run whole, in one process: the CLI's ``run``/``step`` commands and untracked runs."""

    def run(self, ctx: StepContext) -> StepResult: ...


@runtime_checkable
class BatchedStep(Step, Protocol):
    """A step an orchestrator can fan out: a plan, one call per batch on any worker, an idempotent merge.

    ``run`` still does everything in one process, for the CLI and DolphinScheduler, which run a step
    as one command.
    """

    def plan_batches(self, ctx: StepContext) -> Sequence[Any]: ...

    def run_batch(self, ctx: StepContext, batch: int) -> StepResult: ...

    def batches_complete(self, ctx: StepContext) -> bool: ...

    def merge(self, ctx: StepContext) -> StepResult: ...


@dataclass(frozen=True)
class StepSpec:
    """One step of the pipeline.

    ``enabled_by`` names the boolean task option that turns the step on in a complete run (None:
    always part of a complete run); ``number`` is the CLI's ``--single-step`` number and the order
    in which a complete run executes the steps.
    """

    name: str
    number: int
    module: str
    title: str
    description: str
    needs_table_list: bool = False
    batched: bool = False
    enabled_by: str | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"step name {self.name!r} must be lower-case letters, digits and '_' (max 50)")
        if self.number < 1:
            raise ValueError(f"step {self.name}: number must be 1 or more, got {self.number}")

    @property
    def result_file(self) -> str:
        return f"{self.name}_result.json"

    def load(self) -> Step:
        """The implementation; a module that does not conform is a clear error, not an AttributeError later."""
        implementation = getattr(importlib.import_module(self.module), IMPLEMENTATION, None)
        wanted = BatchedStep if self.batched else Step
        if not isinstance(implementation, wanted):
            raise TypeError(f"{self.module}.{IMPLEMENTATION} must implement {wanted.__name__} "
                            f"(the {self.name} step), got {type(implementation).__name__}")
        return implementation

    def load_batched(self) -> BatchedStep:
        if not self.batched:
            raise InvalidInput(f"step {self.name} does not run in batches")
        implementation = self.load()
        assert isinstance(implementation, BatchedStep)
        return implementation


BUILT_IN: tuple[StepSpec, ...] = (
    StepSpec(
        name="ddl_generation", number=1, module="data_pipeline.steps.ddl", title="DDL documents",
        description="Introspect the listed tables; write a .ddl and a _detail.md per table with LLM-written comments.",
        needs_table_list=True, batched=True,
    ),
    StepSpec(
        name="qa_generation", number=2, module="data_pipeline.steps.qa", title="Question/SQL pairs",
        description="Extract business themes from the table documents and generate question/SQL pairs per theme.",
    ),
    StepSpec(
        name="sql_validation", number=3, module="data_pipeline.steps.validation", title="SQL validation",
        description="EXPLAIN every generated SQL on the business database; repair invalid SQL with the LLM.",
        batched=True, enabled_by="enable_sql_validation",
    ),
    StepSpec(
        name="training_load", number=4, module="data_pipeline.steps.training_load", title="Training-data load",
        description="Embed the documents and pairs and load them into the pgvector training tables.",
        enabled_by="enable_training_data_load",
    ),
)

_registry: dict[str, StepSpec] = {spec.name: spec for spec in BUILT_IN}


def all_steps() -> tuple[StepSpec, ...]:
    """Every step, in execution order."""
    return tuple(sorted(_registry.values(), key=lambda spec: spec.number))


def step_names() -> tuple[str, ...]:
    return tuple(spec.name for spec in all_steps())


def step_numbers() -> dict[int, str]:
    return {spec.number: spec.name for spec in all_steps()}


def is_step(name: object) -> bool:
    return isinstance(name, str) and name in _registry


def get(name: str) -> StepSpec:
    spec = _registry.get(name)
    if spec is None:
        raise InvalidInput(f"unknown step {name!r}; steps are {', '.join(step_names())}")
    return spec


def by_number(number: int) -> StepSpec:
    for spec in _registry.values():
        if spec.number == number:
            return spec
    raise InvalidInput(f"no step number {number}; steps are numbered {', '.join(map(str, step_numbers()))}")


def needs_table_list(steps: Sequence[str]) -> list[str]:
    """The steps among ``steps`` that cannot start without the task's table list."""
    return [name for name in steps if get(name).needs_table_list]


def register(spec: StepSpec) -> StepSpec:
    """Add a step; its name and number must be new (the number places it in a complete run)."""
    if spec.name in _registry:
        raise ValueError(f"step {spec.name!r} is already registered")
    if spec.number in step_numbers():
        raise ValueError(f"step number {spec.number} is taken by {step_numbers()[spec.number]!r}")
    if spec.name in ("prepare", "backup_existing_files", "finalize") or spec.name.startswith("plan_"):
        raise ValueError(f"step name {spec.name!r} collides with a task of the pipeline graph")
    _registry[spec.name] = spec
    return spec


def unregister(name: str) -> StepSpec:
    if any(spec.name == name for spec in BUILT_IN):
        raise ValueError(f"{name!r} is a built-in step and cannot be removed")
    return _registry.pop(name)


@contextmanager
def registered(spec: StepSpec) -> Iterator[StepSpec]:
    """``spec`` registered for the duration of the block (tests, one-off runs)."""
    register(spec)
    try:
        yield spec
    finally:
        unregister(spec.name)


class StepNames(Sequence[str]):
    """The registered step names in order, read afresh on every use, so a registered step shows everywhere.

    ``from data_pipeline import STEPS`` hands out this view; it compares equal to a tuple or list of
    the same names.
    """

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...

    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        return step_names()[index]

    def __len__(self) -> int:
        return len(_registry)

    def __iter__(self) -> Iterator[str]:
        return iter(step_names())

    def __contains__(self, name: object) -> bool:
        return is_step(name)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StepNames):
            return True
        return isinstance(other, tuple | list) and tuple(other) == step_names()

    __hash__ = None  # type: ignore[assignment]  # equal to tuples, so not hashable like them

    def __repr__(self) -> str:
        return repr(step_names())


STEPS = StepNames()
