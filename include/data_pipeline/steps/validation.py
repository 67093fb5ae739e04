"""Step 3, ``sql_validation``: EXPLAIN every SQL of the newest pair file, repair, rewrite, report.

Invalid SQL is a result, not a failure: the step completes and says which pairs are wrong and why.
It fails only when it cannot do its job at all (no pair file, a malformed one, the database gone
for longer than the retry budget).

Resumability: one state item per pair, keyed by index and the SHA-256 of its SQL, holding the
verdict (and the repair) in its data, saved in small batches; a retry re-EXPLAINs only the pairs
without a verdict. The pair-file rewrite is journalled (backup first, then the journal, then the
rewrite), so a retry after a kill in the middle of it recognises the rewritten file as this
execution's own work and finishes it instead of validating the new file as if it were new input.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data_pipeline.errors import InvalidInput, PipelineError
from data_pipeline.steps.context import StepContext, StepResult
from data_pipeline.steps.state import StepState, fingerprint
from data_pipeline.steps.validation_pairs import (
    STEP,
    content_sha256,
    find_pair_file,
    item_key,
    load_pairs,
    run_stamp,
)
from data_pipeline.steps.validation_report import collect_rows, remove_superseded_reports, write_reports
from data_pipeline.steps.validation_rewrite import original_content, plan_changes, rewrite_pair_file
from data_pipeline.steps.validation_verdicts import (
    LISTED_IN_LOG,
    needs_repair,
    pending_indexes,
    validate_and_repair,
)


def _resume_note(done: int, merging: bool) -> str:
    """A merge finishes what this run's batches validated; only a retry of an interrupted attempt resumes."""
    if merging:
        return f"; {done} verdict(s) from this run's batches"
    return f"; resuming: {done} already have a verdict"


def _execution_fingerprint(ctx: StepContext, pair_path: Path, original: bytes, *extra: Any) -> str:
    generator = ctx.generator if ctx.params.enable_llm_repair else None
    return fingerprint(STEP, pair_path.name, content_sha256(original), ctx.params.enable_llm_repair,
                       generator.name if generator is not None else None, *extra)


def run(ctx: StepContext, *, merging: bool = False) -> StepResult:
    pair_path = find_pair_file(ctx.task_dir)
    state = ctx.state(STEP)
    current = pair_path.read_bytes()
    original, rewritten_already = original_content(state, pair_path, current)
    pairs = load_pairs(pair_path.name, original)
    keys = [item_key(i, p["sql"]) for i, p in enumerate(pairs)]
    params = ctx.params
    generator = ctx.generator if params.enable_llm_repair else None
    resume = state.begin(_execution_fingerprint(ctx, pair_path, original), keys)
    stamp = run_stamp(state, resume.resumed)
    ctx.log.info(
        f"validating {len(pairs)} SQL statements of {pair_path.name} with EXPLAIN on {_db_display(ctx, pairs)}"
        + (_resume_note(resume.already_completed, merging) if resume.resumed else "")
        + (f"; LLM repair with {generator.name}" if generator is not None else "; no repair"))
    ctx.progress(resume.already_completed, len(pairs), what="SQL statements", force=True)

    validated_now = repaired_now = 0
    reconnects = 0
    to_validate = [i for i in pending_indexes(state, keys) if "verdict" not in state.record(keys[i]).data]
    to_repair_first = needs_repair(state, keys) if generator is not None else []
    if to_validate or to_repair_first:
        validated_now, repaired_now, reconnects = validate_and_repair(ctx, state, pairs, keys, to_validate,
                                                                      resume.already_completed, generator)

    rows, totals = collect_rows(state, pairs, keys)
    outputs = _write_outputs(ctx, state, pair_path, original, pairs, rows, totals, stamp, generator,
                             rewritten_already)
    state.finish()
    failed = [r for r in rows if r["status"] == "error" or r.get("unfinished")]
    ctx.log.info(f"validation of {pair_path.name}: {totals['valid']} valid, {totals['invalid']} invalid"
                 + (f", {totals['repaired']} repaired" if generator is not None else "")
                 + (f", {totals['removed']} removed from the pair file" if params.modify_original_file else "")
                 + (f", {len(failed)} unfinished (retried on the next run)" if failed else "")
                 + f"; success rate {totals['success_rate']:.1%}")
    return StepResult(
        step=STEP,
        items_total=len(pairs),
        items_completed=totals["valid"] + totals["invalid"],
        items_failed=totals["errors"] + totals["repair_failed"],
        items_skipped=totals["skipped"],
        resumed=resume.resumed,
        already_completed=resume.already_completed,
        outputs=[p.name for p in outputs],
        errors=[{"index": r["index"], "error": r["repair"]["error"] if r.get("unfinished") else r["error"]}
                for r in failed[:200]],
        details={
            "pair_file": pair_path.name, "stamp": stamp, **totals,
            "validated_this_run": validated_now, "repaired_this_run": repaired_now, "reconnects": reconnects,
            "generator": generator.name if generator is not None else None,
            "invalid_sample": [{"index": r["index"], "sqlstate": r["sqlstate"], "error": r["error"]}
                               for r in rows if r["status"] == "invalid"][:LISTED_IN_LOG],
        },
    )


def _write_outputs(ctx: StepContext, state: StepState, pair_path: Path, original: bytes, pairs: list[dict[str, Any]],
                   rows: list[dict[str, Any]], totals: dict[str, Any], stamp: str, generator: Any,
                   rewritten_already: bool) -> list[Path]:
    """The reports always; with ``modify_original_file`` also the rewritten pair file (backup first)."""
    modify = ctx.params.modify_original_file
    new_pairs, changes = plan_changes(rows, pairs, modify, totals)
    outputs = write_reports(ctx, pair_path, pairs, rows, totals, stamp, generator, modify)
    if modify:
        outputs += rewrite_pair_file(ctx, state, pair_path, original, len(pairs), new_pairs, changes, totals, stamp,
                                     rewritten_already)
    remove_superseded_reports(ctx.task_dir, stamp)
    return outputs


def _db_display(ctx: StepContext, pairs: Sequence[Any]) -> str:
    """The database as shown in logs (resolving it only when there is work for it)."""
    return ctx.business_db.display if pairs else "(nothing to validate)"


# -- batches: several workers validate slices of one pair file; the last one merges -------------------

BATCH_PAIRS = 2000  # pairs per mapped batch: large enough that a batch outweighs its task overhead


def _inputs(ctx: StepContext) -> tuple[Path, bytes, list[dict[str, Any]], list[str]]:
    pair_path = find_pair_file(ctx.task_dir)
    main = ctx.state(STEP)
    original, _ = original_content(main, pair_path, pair_path.read_bytes())
    pairs = load_pairs(pair_path.name, original)
    return pair_path, original, pairs, [item_key(i, p["sql"]) for i, p in enumerate(pairs)]


def _slices(count: int) -> list[range]:
    return [range(start, min(start + BATCH_PAIRS, count)) for start in range(0, count, BATCH_PAIRS)] or [range(0)]


def _batch_scope(index: int) -> str:
    return f"batch_{index:04d}"


def plan_batches(ctx: StepContext) -> list[range]:
    """Slices of the pair file for parallel batches; a new plan forgets the batches of an earlier execution."""
    pair_path, _, pairs, _ = _inputs(ctx)
    for old in (ctx.task_dir / ".state" / STEP).glob("batch_*"):
        StepState(ctx.task_dir, STEP, old.name).reset()
    slices = _slices(len(pairs))
    ctx.log.info(f"{pair_path.name}: {len(pairs)} SQL statements in {len(slices)} batch(es) of up to {BATCH_PAIRS}")
    return slices


def run_batch(ctx: StepContext, index: int) -> StepResult:
    """Validate (and repair) one slice; verdicts stay in the batch's own state until ``merge``."""
    pair_path, original, pairs, keys = _inputs(ctx)
    slices = _slices(len(pairs))
    if not 0 <= index < len(slices):
        raise InvalidInput(f"batch {index} does not exist: {pair_path.name} has {len(slices)} batch(es)")
    part = list(slices[index])
    state = ctx.state(STEP, _batch_scope(index))
    resume = state.begin(_execution_fingerprint(ctx, pair_path, original, "batch", index, len(part)),
                         [keys[i] for i in part])
    generator = ctx.generator if ctx.params.enable_llm_repair else None
    pending = set(state.pending(keys[i] for i in part))
    todo = [i for i in part if keys[i] in pending and "verdict" not in state.record(keys[i]).data]
    validated = repaired = 0
    if todo or generator is not None:
        validated, repaired, _ = validate_and_repair(ctx, state, pairs, keys, todo, resume.already_completed,
                                                     generator)
    state.finish()
    done = state.completed_count(keys[i] for i in part)
    ctx.log.info(f"batch {index}: {validated} validated, {repaired} repaired, {done}/{len(part)} with a verdict")
    return StepResult(step=STEP, items_total=len(part), items_completed=done, items_failed=len(part) - done,
                      resumed=resume.resumed, already_completed=resume.already_completed,
                      details={"batch": index, "validated_this_run": validated, "repaired_this_run": repaired})


def batches_complete(ctx: StepContext) -> bool:
    pair_path, original, pairs, _ = _inputs(ctx)
    slices = _slices(len(pairs))
    for index, part in enumerate(slices):
        state = ctx.state(STEP, _batch_scope(index))
        info = state.load()
        expected = state.key(_execution_fingerprint(ctx, pair_path, original, "batch", index, len(part)))
        if info is None or not info.finished or info.fingerprint != expected:
            return False
    return True


def merge(ctx: StepContext) -> StepResult:
    """Gather the batches' verdicts into the step's state, then finish as ``run`` does (rewrite, reports)."""
    pair_path, original, pairs, keys = _inputs(ctx)
    if not batches_complete(ctx):
        raise PipelineError(f"cannot merge {STEP}: not every batch has finished")
    main = ctx.state(STEP)
    main.begin(_execution_fingerprint(ctx, pair_path, original), keys)
    gathered: list[tuple[str, dict[str, Any]]] = []
    for index, part in enumerate(_slices(len(pairs))):
        batch = StepState(ctx.task_dir, STEP, _batch_scope(index))
        batch.load()
        for i in part:
            record = batch.record(keys[i])
            if record.status == "completed" and main.record(keys[i]).status != "completed":
                gathered.append((keys[i], record.data))
    main.complete_many(gathered)
    return run(ctx, merging=True)


# The module itself implements the registry's protocol (BatchedStep): its functions are looked up at call
# time, so nothing is restated here.
IMPLEMENTATION = sys.modules[__name__]
