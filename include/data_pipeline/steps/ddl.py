"""Step 1, ``ddl_generation``: per table a ``.ddl``, a ``_detail.md`` and a structure sidecar.

The step is ``plan`` → ``run_batch`` for every batch → ``merge``. Airflow runs the batches as mapped
tasks on several workers; ``run`` does all three in one process (CLI, single task).

Resumability: each batch is a ``StepState`` scope whose items are tables. Scopes stay *unfinished*
until ``merge`` has written ``filename_mapping.txt``; only then are they (and the plan) marked
finished. So a rerun after a crash, an Airflow retry or a cleared batch resumes every batch where it
stopped — completed tables are verified by their output hashes and not redone — while a run after a
completed one starts afresh and replaces the files in place.
"""

from __future__ import annotations

import hashlib
import shutil
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import psycopg
from pydantic import BaseModel, Field

from data_pipeline.errors import InvalidInput, PipelineError
from data_pipeline.files.table_list import TableRef, read_table_list
from data_pipeline.files.task_dir import TABLE_LIST_FILE, atomic_write_bytes, atomic_write_text, state_dir
from data_pipeline.schema.ddl_render import render_ddl, render_detail_md
from data_pipeline.schema.introspect import Introspection, introspect_tables, resolve_tables, sidecar_path
from data_pipeline.schema.model import TableInfo
from data_pipeline.steps.context import StepContext, StepResult
from data_pipeline.steps.state import ResumeSummary, StepState, fingerprint

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


def _step_dir(ctx: StepContext) -> Path:
    return state_dir(ctx.task_dir) / STEP


def _scope(index: int) -> str:
    return f"batch_{index:04d}"


def _read_plan(ctx: StepContext) -> Plan | None:
    try:
        return Plan.model_validate_json((_step_dir(ctx) / PLAN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_plan(ctx: StepContext, plan: Plan) -> None:
    atomic_write_text(_step_dir(ctx) / PLAN_FILE, plan.model_dump_json(indent=1))


def _batch_fingerprint(ctx: StepContext, plan: Plan, refs: list[TableRef]) -> str:
    """Includes the plan's creation time: a batch resumes only within the plan it belongs to, so a new
    plan (the run after a finished one) starts every batch afresh whatever its scope's finished mark."""
    return fingerprint(STEP, RENDER_VERSION, [r.qualified for r in refs], ctx.params.business_context,
                       plan.generator, plan.created_at.isoformat())


# -- plan ------------------------------------------------------------------------------------------

def plan_batches(ctx: StepContext, *, connection: psycopg.Connection | None = None) -> list[list[TableRef]]:
    """Read and check the table list, check every table exists, split into batches.

    Reuses the current plan when it is unfinished and its inputs are unchanged (a retry), so batches
    keep their per-item state; otherwise a new plan replaces it.
    """
    parsed = read_table_list(ctx.task_dir / TABLE_LIST_FILE)
    for warning in parsed.warnings:
        ctx.log.warning(warning)
    db = ctx.business_db
    if connection is not None:
        resolved = resolve_tables(connection, parsed.tables, database=db.display)
        if not connection.autocommit:
            connection.rollback()
    else:
        with db.connect(application_name="data_pipeline:ddl_plan") as conn:
            resolved = resolve_tables(conn, parsed.tables, database=db.display)
    for warning in resolved.warnings:
        ctx.log.warning(warning)
    _check_file_names(ctx, resolved.tables)
    generator = ctx.generator.name
    batch_size = ctx.params.batch_size
    fp = fingerprint(STEP, RENDER_VERSION, [r.qualified for r in resolved.tables], ctx.params.business_context,
                     generator, batch_size)
    current = _read_plan(ctx)
    if current is not None and current.fingerprint == fp and not current.finished:
        return current.batches()
    previous = current.tables if current is not None else []
    if current is not None and not current.finished:
        previous = list(dict.fromkeys([*current.previous_tables, *current.tables]))
    plan = Plan(fingerprint=fp, generator=generator, batch_size=batch_size,
                tables=[(r.schema, r.name) for r in resolved.tables], previous_tables=previous,
                created_at=datetime.now(UTC))
    for stale in _step_dir(ctx).glob("batch_*"):
        number = stale.name.removeprefix("batch_")
        if stale.is_dir() and number.isdigit() and int(number) >= plan.batch_count:
            shutil.rmtree(stale, ignore_errors=True)
    _write_plan(ctx, plan)
    ctx.log.info(f"ddl_generation plan: {len(plan.tables)} tables in {plan.batch_count} batch(es) of up to "
                 f"{batch_size}; generator {generator}")
    return plan.batches()


def _check_file_names(ctx: StepContext, refs: list[TableRef]) -> None:
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


def _current_plan(ctx: StepContext) -> Plan:
    plan = _read_plan(ctx)
    if plan is None:
        plan_batches(ctx)
        plan = _read_plan(ctx)
    assert plan is not None
    return plan


# -- batches ---------------------------------------------------------------------------------------

@dataclass
class _Batch:
    """One batch between its state being loaded and its tables being processed."""

    index: int
    refs: list[TableRef]
    keys: list[str]
    state: StepState
    summary: ResumeSummary
    todo: list[TableRef]


def _begin_batch(ctx: StepContext, plan: Plan, index: int) -> _Batch:
    if not 0 <= index < plan.batch_count:
        raise InvalidInput(f"ddl_generation has {plan.batch_count} batch(es); there is no batch {index}")
    refs = plan.batch(index)
    keys = [r.qualified for r in refs]
    state = ctx.state(STEP, _scope(index))
    summary = state.begin(_batch_fingerprint(ctx, plan, refs), keys)
    if summary.resumed:
        ctx.log.info(f"batch {index + 1}/{plan.batch_count}: resuming, {summary.already_completed} of "
                     f"{len(keys)} tables already done, {summary.to_process} to do")
    for key in summary.exhausted:
        ctx.log.warning(f"{key}: skipped, failed {state.record(key).attempts} times "
                        f"(last error: {state.record(key).error})")
    pending = set(state.pending(keys))
    return _Batch(index, refs, keys, state, summary, [r for r in refs if r.qualified in pending])


def _introspect_batch(ctx: StepContext, batch: _Batch, connection: psycopg.Connection | None) -> Introspection:
    if not batch.todo:
        return Introspection(tables={})
    if connection is not None:
        return introspect_tables(connection, batch.todo)
    with ctx.business_db.connect(autocommit=False, application_name="data_pipeline:ddl") as conn:
        return introspect_tables(conn, batch.todo)


def run_batch(ctx: StepContext, index: int, *, done_before: int | None = None,
              connection: psycopg.Connection | None = None) -> StepResult:
    """Generate the files of one batch's tables; resumes an interrupted batch where it stopped.

    ``done_before`` (tables completed in other batches, for progress) and ``connection`` (autocommit
    off) let ``run`` share what it already has; alone, the batch counts and connects by itself.
    """
    plan = _current_plan(ctx)
    batch = _begin_batch(ctx, plan, index)
    if done_before is None:
        done_before = _completed_elsewhere(ctx, plan, index)
    return _process_batch(ctx, plan, batch, _introspect_batch(ctx, batch, connection), done_before)


def _process_batch(ctx: StepContext, plan: Plan, batch: _Batch, intro: Introspection,
                   done_before: int) -> StepResult:
    state, keys, todo = batch.state, batch.keys, batch.todo
    total = len(plan.tables)
    done = batch.summary.already_completed
    ctx.progress(done_before + done, total, what="tables")
    failures: list[dict[str, Any]] = []
    processed = 0
    generated_count = 0
    for warning in intro.warnings:
        ctx.log.warning(warning)

    def process(ref: TableRef, then_start: str | None = None) -> tuple[dict[str, Any] | None, bool]:
        """One table; ``then_start`` is the table processed right after it (sequential mode), whose start
        is recorded in this table's completion record instead of a file of its own."""
        key = ref.qualified
        try:
            info = intro.tables.get(ref)
            if info is None:
                raise PipelineError(f"table {key} no longer exists in the business database")
            outputs, generated = _write_table(ctx, info)
        except Exception as exc:
            message = exc.message if isinstance(exc, PipelineError) else f"{type(exc).__name__}: {exc}"
            record = state.fail(key, message)
            ctx.log.error(f"{key}: failed (attempt {record.attempts} of {ctx.params.max_retries}): {message}",
                          extra={"traceback": traceback.format_exc(limit=5)})
            return {"table": key, "error": message, "attempts": record.attempts}, False
        state.complete(key, outputs=outputs, data={"file_stem": ref.file_stem, "comments_generated": generated},
                       then_start=then_start)
        return None, generated

    def tally(outcome: tuple[dict[str, Any] | None, bool]) -> None:
        nonlocal processed, done, generated_count
        failure, generated = outcome
        processed += 1
        if failure is not None:
            failures.append(failure)
            return
        done += 1
        generated_count += generated
        ctx.progress(done_before + done, total, what="tables")

    if todo:
        # Tables are independent: with an LLM, its concurrency limit worth of tables are in flight at once
        # (round trips overlap). Offline, one at a time is fastest: the work is CPU and file creation, and
        # each completion record also announces the next table's start (one state file per table, not two).
        # Stopping at the first failure is only exact one table at a time, so that mode is sequential too.
        workers = max(1, int(getattr(ctx.generator, "concurrency", 1))) if ctx.params.continue_on_error else 1
        if workers == 1:
            announced: str | None = None
            for position, ref in enumerate(todo):
                if announced != ref.qualified:
                    state.start(ref.qualified)
                following = todo[position + 1].qualified if position + 1 < len(todo) else None
                outcome = process(ref, following)
                tally(outcome)
                announced = following if outcome[0] is None else None
                if failures and not ctx.params.continue_on_error:
                    break
        else:
            def process_started(ref: TableRef) -> tuple[dict[str, Any] | None, bool]:
                state.start(ref.qualified)
                return process(ref)

            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ddl_item") as pool:
                for outcome in pool.map(process_started, todo):
                    tally(outcome)
        ctx.log.info(f"batch {batch.index + 1}/{plan.batch_count}: {processed} table(s) processed, "
                     f"{generated_count} with generated comments, {len(failures)} failed")
    exhausted = state.exhausted(keys)
    records = state.records()
    failed_now = [f for f in failures if f["table"] not in exhausted]
    result = StepResult(
        step=STEP, status="failed" if failed_now else "completed", items_total=len(keys),
        items_completed=state.completed_count(keys), items_failed=len(failed_now), items_skipped=len(exhausted),
        resumed=batch.summary.resumed, already_completed=batch.summary.already_completed,
        outputs=[name for r in batch.refs if r.qualified in records and records[r.qualified].status == "completed"
                 for name in (ddl_file(r), detail_file(r))],
        errors=failures + [{"table": k, "error": state.record(k).error, "skipped": True} for k in exhausted],
        details={"batch": batch.index, "batches": plan.batch_count, "processed": processed},
        error_message=(f"{len(failed_now)} table(s) failed in batch {batch.index}: "
                       + "; ".join(f"{f['table']}: {f['error']}" for f in failed_now[:5])) if failed_now else None,
    )
    atomic_write_text(state.root / BATCH_RESULT_FILE, result.model_dump_json(indent=1), durable=False)
    return result


def _write_table(ctx: StepContext, info: TableInfo) -> tuple[dict[Path, str], bool]:
    """Fill missing comments, render, write the three files; returns each path with the SHA-256 of its
    bytes (hashed here, not read back) and whether comments were made."""
    generated = _fill_comments(ctx, info)
    ref = info.ref
    written: dict[Path, str] = {}
    for path, data in ((ctx.task_dir / ddl_file(ref), render_ddl(info).encode()),
                       (ctx.task_dir / detail_file(ref), render_detail_md(info).encode()),
                       (sidecar_path(ctx.task_dir, ref), info.model_dump_json().encode())):
        # No fsync per file: an item only counts as done once its recorded hashes match what is on disk.
        atomic_write_bytes(path, data, durable=False)
        written[path] = hashlib.sha256(data).hexdigest()
    return written, generated


def _fill_comments(ctx: StepContext, info: TableInfo) -> bool:
    """Keep database comments; ask the generator (one call per table) only for what is missing."""
    missing_columns = [c for c in info.columns if not c.comment]
    if info.comment and not missing_columns:
        return False
    proposal = ctx.generator.describe_table(info, ctx.params.business_context)
    generated = False
    if not info.comment and proposal.table_comment.strip():
        info.comment = proposal.table_comment.strip()
        info.comment_generated = generated = True
    for column in missing_columns:
        text = (proposal.column_comments.get(column.name) or "").strip()  # matched by NAME, never by position
        if text:
            column.comment = text
            column.comment_generated = generated = True
    return generated


def _completed_elsewhere(ctx: StepContext, plan: Plan, index: int) -> int:
    done = 0
    for other in range(plan.batch_count):
        if other == index:
            continue
        state = ctx.state(STEP, _scope(other))
        if state.load() is not None:
            done += state.completed_count(r.qualified for r in plan.batch(other))
    return done


# -- merge -----------------------------------------------------------------------------------------

@dataclass
class _Tally:
    completed: list[TableRef] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    resumed: bool = False
    already_completed: int = 0


def _tally(ctx: StepContext, plan: Plan, *, verify: bool = True, loaded: dict[int, StepState] | None = None,
           results: dict[int, StepResult] | None = None) -> tuple[_Tally, list[StepState]]:
    """Every table's outcome from the per-item state. ``loaded``/``results``: batches this process has
    just run, whose state and result are already in memory (not read again from 1,000 files)."""
    tally = _Tally()
    states = []
    for index, refs in enumerate(plan.batches()):
        state = (loaded or {}).get(index)
        info = state.info if state is not None else None
        if state is None:
            state = ctx.state(STEP, _scope(index))
            info = state.load()
        states.append(state)
        if info is None or info.fingerprint != _batch_fingerprint(ctx, plan, refs):
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


def batches_complete(ctx: StepContext) -> bool:
    """Whether every table of the plan is done (or skipped after its retries): time to merge."""
    plan = _read_plan(ctx)
    if plan is None:
        return False
    tally, _ = _tally(ctx, plan, verify=False)  # per-item state only; merge checks the file hashes once
    return not tally.unfinished


def merge(ctx: StepContext, *, verify: bool = True, loaded: dict[int, StepState] | None = None,
          results: dict[int, StepResult] | None = None) -> StepResult:
    """Check every batch is complete, write ``filename_mapping.txt``, mark the step's state finished.

    ``verify`` re-checks each table's recorded output hashes; ``run`` skips that for the batches it
    has just run and checked itself, and hands over their state (``loaded``) and results.
    """
    plan = _read_plan(ctx)
    if plan is None:
        raise InvalidInput("ddl_generation has no plan in this task directory; plan the batches first")
    tally, states = _tally(ctx, plan, verify=verify, loaded=loaded, results=results)
    total = len(plan.tables)
    base = StepResult(step=STEP, items_total=total, items_completed=len(tally.completed),
                      items_skipped=len(tally.skipped), resumed=tally.resumed,
                      already_completed=tally.already_completed,
                      errors=[*({"table": u} for u in tally.unfinished), *tally.skipped],
                      details={"batches": plan.batch_count, "generator": plan.generator})
    if tally.unfinished:
        shown = "; ".join(tally.unfinished[:10]) + (f"; and {len(tally.unfinished) - 10} more"
                                                     if len(tally.unfinished) > 10 else "")
        base.status = "failed"
        base.items_failed = len(tally.unfinished)
        base.error_message = (f"ddl_generation is incomplete: {len(tally.unfinished)} of {total} tables not done: "
                              f"{shown}. Run the step (or the failed batches) again to finish them.")
        ctx.log.error(base.error_message)
        return base
    mapping = _render_mapping(plan, tally)
    atomic_write_text(ctx.task_dir / MAPPING_FILE, mapping)
    removed = _remove_stale_outputs(ctx, plan)
    for state in states:
        state.finish(durable=False)  # the plan (fsynced below) decides what the next run does
    plan.finished = True
    _write_plan(ctx, plan)
    ctx.progress(len(tally.completed), total, what="tables", force=True)
    base.outputs = [name for r in tally.completed for name in (ddl_file(r), detail_file(r))] + [MAPPING_FILE]
    base.details["removed_stale_files"] = removed
    if tally.skipped:
        ctx.log.warning(f"{len(tally.skipped)} table(s) skipped after {ctx.params.max_retries} failed attempts: "
                        + ", ".join(s["table"] for s in tally.skipped))
    return base


def _render_mapping(plan: Plan, tally: _Tally) -> str:
    done = set(tally.completed)
    lines = ["# Tables of this task and their files (ddl_generation): table -> DDL file, documentation file"]
    for ref in plan.refs:
        if ref in done:
            lines.append(f"{ref.qualified} -> {ddl_file(ref)}, {detail_file(ref)}")
    for skipped in tally.skipped:
        lines.append(f"# skipped after repeated failures: {skipped['table']}: {skipped['error']}")
    return "\n".join(lines) + "\n"


def _remove_stale_outputs(ctx: StepContext, plan: Plan) -> list[str]:
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


# -- the whole step in one process -------------------------------------------------------------------

def run(ctx: StepContext) -> StepResult:
    """Plan, every batch, merge — the CLI and single-process path."""
    batch_results: list[StepResult] = []
    states: dict[int, StepState] = {}
    # The next batch is introspected on a second thread while this one is rendered and written: the
    # database works on its own core while Python renders, instead of each waiting for the other.
    with ctx.business_db.connect(autocommit=False, application_name="data_pipeline:ddl") as conn, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="ddl_introspect") as prefetch:
        plan_batches(ctx, connection=conn)
        plan = _current_plan(ctx)
        done = 0
        upcoming: tuple[_Batch, Future[Introspection]] | None = None
        if plan.batch_count:
            first = _begin_batch(ctx, plan, 0)
            upcoming = first, prefetch.submit(_introspect_batch, ctx, first, conn)
        for index in range(plan.batch_count):
            assert upcoming is not None
            batch, introspection = upcoming
            intro = introspection.result()
            if index + 1 < plan.batch_count:
                following = _begin_batch(ctx, plan, index + 1)
                upcoming = following, prefetch.submit(_introspect_batch, ctx, following, conn)
            result = _process_batch(ctx, plan, batch, intro, done)
            batch_results.append(result)
            states[index] = batch.state
            done += result.items_completed
            if result.status == "failed" and not ctx.params.continue_on_error:
                break
    final = merge(ctx, verify=False, loaded=states, results=dict(enumerate(batch_results)))
    final.details["batch_results"] = [
        {k: r.details.get(k) for k in ("batch", "processed")} | {"completed": r.items_completed,
                                                                 "failed": r.items_failed}
        for r in batch_results]
    final.details["processed"] = sum(r.details.get("processed", 0) for r in batch_results)
    return final



# -- what the step registry loads (data_pipeline.steps.registry.BatchedStep) --------------------------

class DdlGeneration:
    """Delegates to this module's functions, looked up at call time."""

    def run(self, ctx: StepContext) -> StepResult:
        return run(ctx)

    def plan_batches(self, ctx: StepContext) -> list[list[TableRef]]:
        return plan_batches(ctx)

    def run_batch(self, ctx: StepContext, batch: int) -> StepResult:
        return run_batch(ctx, batch)

    def batches_complete(self, ctx: StepContext) -> bool:
        return batches_complete(ctx)

    def merge(self, ctx: StepContext) -> StepResult:
        return merge(ctx)


IMPLEMENTATION = DdlGeneration()
