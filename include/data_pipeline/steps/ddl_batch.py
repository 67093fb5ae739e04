"""One ``ddl_generation`` batch: introspect its tables, fill missing comments, write each table's files.

Every table is an item of the batch's ``StepState`` scope, completed with the SHA-256 of the files it
wrote, so a resumed batch redoes only tables whose files are missing or changed.
"""

from __future__ import annotations

import hashlib
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from data_pipeline.errors import InvalidInput, PipelineError
from data_pipeline.files.table_list import TableRef
from data_pipeline.files.task_dir import atomic_write_bytes, atomic_write_text
from data_pipeline.schema.ddl_render import render_ddl, render_detail_md
from data_pipeline.schema.introspect import Introspection, introspect_tables
from data_pipeline.schema.model import TableInfo
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
from data_pipeline.steps.state import ResumeSummary, StepState


@dataclass
class Batch:
    """One batch between its state being loaded and its tables being processed."""

    index: int
    refs: list[TableRef]
    keys: list[str]
    state: StepState
    summary: ResumeSummary
    todo: list[TableRef]


def begin_batch(ctx: StepContext, plan: Plan, index: int) -> Batch:
    """Load (or start) the batch's state; the tables still to do are those not completed yet."""
    if not 0 <= index < plan.batch_count:
        raise InvalidInput(f"ddl_generation has {plan.batch_count} batch(es); there is no batch {index}")
    refs = plan.batch(index)
    keys = [r.qualified for r in refs]
    state = ctx.state(STEP, batch_scope(index))
    summary = state.begin(batch_fingerprint(ctx, plan, refs), keys)
    if summary.resumed:
        ctx.log.info(f"batch {index + 1}/{plan.batch_count}: resuming, {summary.already_completed} of "
                     f"{len(keys)} tables already done, {summary.to_process} to do")
    for key in summary.exhausted:
        ctx.log.warning(f"{key}: skipped, failed {state.record(key).attempts} times "
                        f"(last error: {state.record(key).error})")
    pending = set(state.pending(keys))
    return Batch(index, refs, keys, state, summary, [r for r in refs if r.qualified in pending])


def introspect_batch(ctx: StepContext, batch: Batch, connection: psycopg.Connection | None) -> Introspection:
    """The structure of the batch's pending tables, in one read-only snapshot."""
    if not batch.todo:
        return Introspection(tables={})
    if connection is not None:
        return introspect_tables(connection, batch.todo)
    with ctx.business_db.connect(autocommit=False, application_name="data_pipeline:ddl") as conn:
        return introspect_tables(conn, batch.todo)


def process_batch(ctx: StepContext, plan: Plan, batch: Batch, intro: Introspection,
                  done_before: int) -> StepResult:
    """Process the batch's pending tables (in parallel with an LLM) and record the batch's result."""
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


def completed_elsewhere(ctx: StepContext, plan: Plan, index: int) -> int:
    """Tables completed in the other batches: the progress a lone batch reports starts there."""
    done = 0
    for other in range(plan.batch_count):
        if other == index:
            continue
        state = ctx.state(STEP, batch_scope(other))
        if state.load() is not None:
            done += state.completed_count(r.qualified for r in plan.batch(other))
    return done
