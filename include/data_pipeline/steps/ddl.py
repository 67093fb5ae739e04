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

import shutil
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

import psycopg

from data_pipeline.errors import InvalidInput
from data_pipeline.files.table_list import TableRef, read_table_list
from data_pipeline.files.task_dir import TABLE_LIST_FILE, atomic_write_text
from data_pipeline.schema.introspect import Introspection
from data_pipeline.schema.table_resolve import resolve_tables
from data_pipeline.steps.context import StepContext, StepResult
from data_pipeline.steps.ddl_batch import Batch, begin_batch, completed_elsewhere, introspect_batch, process_batch
from data_pipeline.steps.ddl_outcome import remove_stale_outputs, render_mapping, tally_tables
from data_pipeline.steps.ddl_plan import (
    MAPPING_FILE,
    RENDER_VERSION,
    STEP,
    Plan,
    check_file_names,
    ddl_file,
    detail_file,
    read_plan,
    step_dir,
    write_plan,
)
from data_pipeline.steps.state import StepState, fingerprint

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
    check_file_names(ctx, resolved.tables)
    generator = ctx.generator.name
    batch_size = ctx.params.batch_size
    fp = fingerprint(STEP, RENDER_VERSION, [r.qualified for r in resolved.tables], ctx.params.business_context,
                     generator, batch_size)
    current = read_plan(ctx)
    if current is not None and current.fingerprint == fp and not current.finished:
        return current.batches()
    previous = current.tables if current is not None else []
    if current is not None and not current.finished:
        previous = list(dict.fromkeys([*current.previous_tables, *current.tables]))
    plan = Plan(fingerprint=fp, generator=generator, batch_size=batch_size,
                tables=[(r.schema, r.name) for r in resolved.tables], previous_tables=previous,
                created_at=datetime.now(UTC))
    for stale in step_dir(ctx).glob("batch_*"):
        number = stale.name.removeprefix("batch_")
        if stale.is_dir() and number.isdigit() and int(number) >= plan.batch_count:
            shutil.rmtree(stale, ignore_errors=True)
    write_plan(ctx, plan)
    ctx.log.info(f"ddl_generation plan: {len(plan.tables)} tables in {plan.batch_count} batch(es) of up to "
                 f"{batch_size}; generator {generator}")
    return plan.batches()


def _current_plan(ctx: StepContext) -> Plan:
    plan = read_plan(ctx)
    if plan is None:
        plan_batches(ctx)
        plan = read_plan(ctx)
    assert plan is not None
    return plan


# -- batches ---------------------------------------------------------------------------------------

def run_batch(ctx: StepContext, index: int, *, done_before: int | None = None,
              connection: psycopg.Connection | None = None) -> StepResult:
    """Generate the files of one batch's tables; resumes an interrupted batch where it stopped.

    ``done_before`` (tables completed in other batches, for progress) and ``connection`` (autocommit
    off) let ``run`` share what it already has; alone, the batch counts and connects by itself.
    """
    plan = _current_plan(ctx)
    batch = begin_batch(ctx, plan, index)
    if done_before is None:
        done_before = completed_elsewhere(ctx, plan, index)
    return process_batch(ctx, plan, batch, introspect_batch(ctx, batch, connection), done_before)


# -- merge -----------------------------------------------------------------------------------------

def batches_complete(ctx: StepContext) -> bool:
    """Whether every table of the plan is done (or skipped after its retries): time to merge."""
    plan = read_plan(ctx)
    if plan is None:
        return False
    tally, _ = tally_tables(ctx, plan, verify=False)  # per-item state only; merge checks the file hashes once
    return not tally.unfinished


def merge(ctx: StepContext, *, verify: bool = True, loaded: dict[int, StepState] | None = None,
          results: dict[int, StepResult] | None = None) -> StepResult:
    """Check every batch is complete, write ``filename_mapping.txt``, mark the step's state finished.

    ``verify`` re-checks each table's recorded output hashes; ``run`` skips that for the batches it
    has just run and checked itself, and hands over their state (``loaded``) and results.
    """
    plan = read_plan(ctx)
    if plan is None:
        raise InvalidInput("ddl_generation has no plan in this task directory; plan the batches first")
    tally, states = tally_tables(ctx, plan, verify=verify, loaded=loaded, results=results)
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
    mapping = render_mapping(plan, tally)
    atomic_write_text(ctx.task_dir / MAPPING_FILE, mapping)
    removed = remove_stale_outputs(ctx, plan)
    for state in states:
        state.finish(durable=False)  # the plan (fsynced below) decides what the next run does
    plan.finished = True
    write_plan(ctx, plan)
    ctx.progress(len(tally.completed), total, what="tables", force=True)
    base.outputs = [name for r in tally.completed for name in (ddl_file(r), detail_file(r))] + [MAPPING_FILE]
    base.details["removed_stale_files"] = removed
    if tally.skipped:
        ctx.log.warning(f"{len(tally.skipped)} table(s) skipped after {ctx.params.max_retries} failed attempts: "
                        + ", ".join(s["table"] for s in tally.skipped))
    return base


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
        upcoming: tuple[Batch, Future[Introspection]] | None = None
        if plan.batch_count:
            first = begin_batch(ctx, plan, 0)
            upcoming = first, prefetch.submit(introspect_batch, ctx, first, conn)
        for index in range(plan.batch_count):
            assert upcoming is not None
            batch, introspection = upcoming
            intro = introspection.result()
            if index + 1 < plan.batch_count:
                following = begin_batch(ctx, plan, index + 1)
                upcoming = following, prefetch.submit(introspect_batch, ctx, following, conn)
            result = process_batch(ctx, plan, batch, intro, done)
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


# The module itself implements the registry's protocol (BatchedStep): its functions are looked up at call
# time, so nothing is restated here.
IMPLEMENTATION = sys.modules[__name__]
