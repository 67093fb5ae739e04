"""What ``ddl_generation``'s merge reads and writes: every table's outcome across the batches,
``filename_mapping.txt``, and the removal of files of tables no longer listed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from data_pipeline.files.table_list import TableRef
from data_pipeline.schema.sidecars import sidecar_path
from data_pipeline.steps.context import StepContext, StepResult
from data_pipeline.steps.ddl_plan import (
    BATCH_RESULT_FILE,
    STEP,
    Plan,
    batch_fingerprint,
    batch_scope,
    ddl_file,
    detail_file,
)
from data_pipeline.steps.state import StepState


@dataclass
class Tally:
    """Every table's outcome across the batches of one plan."""

    completed: list[TableRef] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    resumed: bool = False
    already_completed: int = 0


def tally_tables(ctx: StepContext, plan: Plan, *, verify: bool = True, loaded: dict[int, StepState] | None = None,
                 results: dict[int, StepResult] | None = None) -> tuple[Tally, list[StepState]]:
    """Every table's outcome from the per-item state. ``loaded``/``results``: batches this process has
    just run, whose state and result are already in memory (not read again from 1,000 files)."""
    tally = Tally()
    states = []
    for index, refs in enumerate(plan.batches()):
        state = (loaded or {}).get(index)
        info = state.info if state is not None else None
        if state is None:
            state = ctx.state(STEP, batch_scope(index))
            info = state.load()
        states.append(state)
        if info is None or info.fingerprint != state.key(batch_fingerprint(ctx, plan, refs)):
            tally.unfinished.extend(f"{r.qualified} (batch {index} has not run)" for r in refs)
            continue
        batch_result = (results or {}).get(index) or _read_batch_result(state)
        if batch_result is not None:
            tally.resumed = tally.resumed or batch_result.resumed
            tally.already_completed += batch_result.already_completed
        exhausted = set(state.exhausted(r.qualified for r in refs))
        for ref in refs:
            key = ref.qualified
            record = state.record(key)
            if state.is_completed(key) if verify else record.status == "completed":
                tally.completed.append(ref)
            elif key in exhausted:
                tally.skipped.append({"table": key, "error": record.error, "attempts": record.attempts})
            elif record.status == "completed":
                tally.unfinished.append(f"{key} (its files changed or disappeared after generation)")
            elif record.status == "failed":
                tally.unfinished.append(f"{key} (failed: {record.error})")
            else:
                tally.unfinished.append(f"{key} (batch {index} did not reach it)")
    return tally, states


def _read_batch_result(state: StepState) -> StepResult | None:
    try:
        return StepResult.model_validate_json((state.root / BATCH_RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def render_mapping(plan: Plan, tally: Tally) -> str:
    """``filename_mapping.txt``: which files belong to which table, and what was skipped."""
    done = set(tally.completed)
    lines = ["# Tables of this task and their files (ddl_generation): table -> DDL file, documentation file"]
    for ref in plan.refs:
        if ref in done:
            lines.append(f"{ref.qualified} -> {ddl_file(ref)}, {detail_file(ref)}")
    for skipped in tally.skipped:
        lines.append(f"# skipped after repeated failures: {skipped['table']}: {skipped['error']}")
    return "\n".join(lines) + "\n"


def remove_stale_outputs(ctx: StepContext, plan: Plan) -> list[str]:
    """Files of tables an earlier plan of this task had but this one does not: later steps must not read them."""
    current = {TableRef(s, n).file_stem for s, n in plan.tables}
    removed = []
    for schema, name in plan.previous_tables:
        ref = TableRef(schema, name)
        if ref.file_stem in current:
            continue
        for path in (ctx.task_dir / ddl_file(ref), ctx.task_dir / detail_file(ref), sidecar_path(ctx.task_dir, ref)):
            if path.is_file() and not path.is_symlink():
                path.unlink()
                if path.parent == ctx.task_dir:
                    removed.append(path.name)
    if removed:
        ctx.log.info(f"removed {len(removed)} file(s) of tables no longer listed: {', '.join(removed[:20])}")
    return removed
