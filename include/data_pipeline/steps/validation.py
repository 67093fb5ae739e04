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

import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from data_pipeline.errors import InvalidInput, NotFound, PipelineError
from data_pipeline.files.task_dir import atomic_write_bytes, atomic_write_text
from data_pipeline.schema.sql_validator import SqlValidator, ValidatorSettings, Verdict
from data_pipeline.steps.context import StepContext, StepResult
from data_pipeline.steps.state import StepState, fingerprint, sha256_file

STEP = "sql_validation"
PAIR_FILE = re.compile(r"^qs_.+_pair\.json$")
_STAMP_IN_NAME = re.compile(r"_(\d{8}_\d{6})_pair\.json$")
_REPORT = re.compile(r"^sql_validation_\d{8}_\d{6}_(summary\.log|report\.json)$")
STAMP_FORMAT = "%Y%m%d_%H%M%S"
SAVE_EVERY = 250  # verdicts per state batch file
SAVE_SECONDS = 0.5
LISTED_IN_LOG = 20  # invalid SQL named one by one in the task log


@dataclass(frozen=True)
class RepairItem:
    """What the generator needs to repair one SQL (the ``RepairRequest`` protocol)."""

    sql: str
    error: str
    question: str


# -- input --------------------------------------------------------------------------------------


def find_pair_file(task_dir: Path) -> Path:
    """The newest ``qs_*_pair.json``: by the timestamp in its name, then modification time."""
    candidates = [p for p in task_dir.iterdir() if PAIR_FILE.match(p.name) and p.is_file() and not p.is_symlink()]
    if not candidates:
        raise NotFound(f"no question/SQL pair file (qs_<db>_<timestamp>_pair.json) in the task directory "
                       f"{task_dir.name}; run qa_generation first or upload a pair file")

    def newest(path: Path) -> tuple[str, int, str]:
        match = _STAMP_IN_NAME.search(path.name)
        return (match.group(1) if match else "", path.stat().st_mtime_ns, path.name)

    return max(candidates, key=newest)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__)


def load_pairs(name: str, data: bytes) -> list[dict[str, Any]]:
    """Parse a pair file strictly: a JSON array of objects with string ``question`` and ``sql``."""
    if b"\x00" in data:
        raise InvalidInput(f"{name} is not a text file (it contains NUL bytes); expected a JSON array of "
                           '{"question", "sql"} objects', file=name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{name} is not UTF-8 text (invalid byte at offset {exc.start}); expected a JSON array "
                           'of {"question", "sql"} objects', file=name) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                           file=name) from None
    if not isinstance(doc, list):
        raise InvalidInput(f'{name} must hold a JSON array of {{"question", "sql"}} objects, not a JSON '
                           f"{_json_type(doc)}", file=name)
    for index, item in enumerate(doc):
        if not isinstance(item, dict):
            raise InvalidInput(f'{name}: item at index {index} is a JSON {_json_type(item)}, expected an object '
                               'with "question" and "sql"', file=name, index=index)
        missing = [key for key in ("question", "sql") if key not in item]
        if missing:
            raise InvalidInput(f"{name}: item at index {index} has no " + " and no ".join(f'"{k}"' for k in missing)
                               + " key", file=name, index=index)
        for key in ("question", "sql"):
            if not isinstance(item[key], str):
                raise InvalidInput(f'{name}: item at index {index}: "{key}" must be a string, not a JSON '
                                   f"{_json_type(item[key])}", file=name, index=index)
    return doc


def item_key(index: int, sql: str) -> str:
    return f"{index}:{hashlib.sha256(sql.encode('utf-8')).hexdigest()[:16]}"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _backup_path(pair_path: Path) -> Path:
    return pair_path.with_name(pair_path.name + ".backup")


def _original_content(state: StepState, pair_path: Path, current: bytes) -> tuple[bytes, bool]:
    """The input of this execution: the file as found, or, when an unfinished execution had already
    rewritten it, the original kept in the backup (recognised through the rewrite journal)."""
    info = state.load()
    journal_path = state.root / "rewrite.json"
    if info is None or info.finished or not journal_path.is_file():
        return current, False
    try:
        journal = json.loads(journal_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return current, False
    if journal.get("pair_file") != pair_path.name or journal.get("rewritten_sha256") != _sha256(current):
        return current, False
    backup = _backup_path(pair_path)
    if backup.is_file() and not backup.is_symlink():
        original = backup.read_bytes()
        if _sha256(original) == journal.get("original_sha256"):
            return original, True
    return current, False


def _run_stamp(state: StepState, resumed: bool) -> str:
    """``<ts>`` of this execution's file names; the same across a resume of the same scope."""
    path = state.root / "run.json"
    if resumed:
        try:
            stamp = json.loads(path.read_text(encoding="utf-8")).get("stamp")
            if isinstance(stamp, str) and re.fullmatch(r"\d{8}_\d{6}", stamp):
                return stamp
        except (OSError, ValueError):
            pass
    stamp = datetime.now().strftime(STAMP_FORMAT)
    atomic_write_text(path, json.dumps({"stamp": stamp}))
    return stamp


def _documents(task_dir: Path) -> list[str]:
    """DDL and table documentation, the context a repairing LLM needs."""
    docs = []
    for path in sorted(task_dir.iterdir()):
        if (path.suffix == ".ddl" or path.name.endswith("_detail.md")) and path.is_file() and not path.is_symlink():
            docs.append(path.read_text(encoding="utf-8", errors="replace"))
    return docs


# -- the step -----------------------------------------------------------------------------------


class _Saver:
    """Collects verdicts and saves them to the step state in batches (one file per batch)."""

    def __init__(self, ctx: StepContext, state: StepState, total: int, done: int) -> None:
        self.ctx = ctx
        self.state = state
        self.total = total
        self.done = done
        self._batch: list[tuple[str, dict[str, Any]]] = []
        self._since = time.monotonic()  # saved at least every SAVE_SECONDS while verdicts arrive

    def add(self, key: str, data: dict[str, Any]) -> None:
        self._batch.append((key, data))
        self.done += 1
        if len(self._batch) >= SAVE_EVERY or time.monotonic() - self._since >= SAVE_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self._batch:
            self.state.complete_many(self._batch)
            self._batch = []
            self.ctx.progress(self.done, self.total, what="SQL statements")
        self._since = time.monotonic()


def _execution_fingerprint(ctx: StepContext, pair_path: Path, original: bytes, *extra: Any) -> str:
    generator = ctx.generator if ctx.params.enable_llm_repair else None
    return fingerprint(STEP, pair_path.name, _sha256(original), ctx.params.enable_llm_repair,
                       generator.name if generator is not None else None, *extra)


def run(ctx: StepContext) -> StepResult:
    pair_path = find_pair_file(ctx.task_dir)
    state = ctx.state(STEP)
    current = pair_path.read_bytes()
    original, rewritten_already = _original_content(state, pair_path, current)
    pairs = load_pairs(pair_path.name, original)
    keys = [item_key(i, p["sql"]) for i, p in enumerate(pairs)]
    params = ctx.params
    generator = ctx.generator if params.enable_llm_repair else None
    resume = state.begin(_execution_fingerprint(ctx, pair_path, original), keys)
    stamp = _run_stamp(state, resume.resumed)
    ctx.log.info(
        f"validating {len(pairs)} SQL statements of {pair_path.name} with EXPLAIN on {_db_display(ctx, pairs)}"
        + (f"; resuming: {resume.already_completed} already have a verdict" if resume.resumed else "")
        + (f"; LLM repair with {generator.name}" if generator is not None else "; no repair"))
    ctx.progress(resume.already_completed, len(pairs), what="SQL statements", force=True)

    validated_now = repaired_now = 0
    reconnects = 0
    to_validate = [i for i in _pending_indexes(state, keys) if "verdict" not in state.record(keys[i]).data]
    to_repair_first = _needs_repair(state, keys) if generator is not None else []
    if to_validate or to_repair_first:
        validated_now, repaired_now, reconnects = _validate_and_repair(ctx, state, pairs, keys, to_validate,
                                                                       resume.already_completed, generator)

    rows, totals = _collect(state, pairs, keys)
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


# -- batches: several workers validate slices of one pair file; the last one merges -------------------

BATCH_PAIRS = 2000  # pairs per mapped batch: large enough that a batch outweighs its task overhead


def _inputs(ctx: StepContext) -> tuple[Path, bytes, list[dict[str, Any]], list[str]]:
    pair_path = find_pair_file(ctx.task_dir)
    main = ctx.state(STEP)
    original, _ = _original_content(main, pair_path, pair_path.read_bytes())
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
        validated, repaired, _ = _validate_and_repair(ctx, state, pairs, keys, todo, resume.already_completed,
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
        state = StepState(ctx.task_dir, STEP, _batch_scope(index))
        info = state.load()
        expected = _execution_fingerprint(ctx, pair_path, original, "batch", index, len(part))
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
    return run(ctx)


def _validate_and_repair(ctx: StepContext, state: StepState, pairs: list[dict[str, Any]], keys: list[str],
                         todo: list[int], already: int, generator: Any) -> tuple[int, int, int]:
    """EXPLAIN ``todo`` and, with a generator, repair what is invalid; (validated, repaired, reconnects)."""
    settings = ValidatorSettings(statement_timeout=ctx.params.sql_timeout_seconds,
                                 concurrency=ctx.params.validation_concurrency)
    validator = SqlValidator(lambda: ctx.business_db.connect(application_name="data_pipeline_sql_validation"),
                             settings, describe=ctx.business_db.display, log=ctx.log.warning)
    with validator:
        validated = _validate(ctx, state, pairs, keys, todo, validator, already)
        repaired = _repair(ctx, state, pairs, keys, validator, generator) if generator is not None else 0
        return validated, repaired, validator.reconnects


def _db_display(ctx: StepContext, pairs: Sequence[Any]) -> str:
    """The database as shown in logs (resolving it only when there is work for it)."""
    return ctx.business_db.display if pairs else "(nothing to validate)"


def _pending_indexes(state: StepState, keys: list[str]) -> list[int]:
    pending = set(state.pending(keys))
    return [i for i, key in enumerate(keys) if key in pending]


def _needs_repair(state: StepState, keys: list[str]) -> list[int]:
    exhausted = set(state.exhausted(keys))
    out = []
    for i, key in enumerate(keys):
        data = state.record(key).data
        if key not in exhausted and data.get("verdict", {}).get("status") == "invalid" and "repair" not in data:
            out.append(i)
    return out


def _validate(ctx: StepContext, state: StepState, pairs: list[dict[str, Any]], keys: list[str], todo: list[int],
              validator: SqlValidator, already: int) -> int:
    if not todo:
        return 0
    saver = _Saver(ctx, state, len(pairs), already)
    listed = 0
    stop: list[str] = []

    def on_verdict(verdict: Verdict) -> None:
        nonlocal listed
        index = todo[verdict.index]
        verdict.index = index
        key = keys[index]
        if verdict.status == "error":
            state.start(key)
            state.fail(key, verdict.error or "not validated")
            ctx.log.warning(f"SQL at index {index} could not be validated: {verdict.error}")
            if not ctx.params.continue_on_error:
                stop.append(f"SQL at index {index} could not be validated: {verdict.error}")
                raise _Stop
            return
        if verdict.status == "invalid" and listed < LISTED_IN_LOG:
            listed += 1
            ctx.log.info(f"invalid SQL at index {index}: {verdict.describe(pairs[index]['sql'])}")
        saver.add(key, {"verdict": verdict.to_dict()})

    try:
        validator.validate([pairs[i]["sql"] for i in todo], on_verdict=on_verdict, on_tick=saver.flush)
    except _Stop:
        raise PipelineError(f"{stop[0]}; stopping because continue_on_error is off") from None
    finally:
        saver.flush()
    return len(todo)


class _Stop(Exception):
    """Raised from a callback to stop validation when an item fails and continue_on_error is off."""


def _repair(ctx: StepContext, state: StepState, pairs: list[dict[str, Any]], keys: list[str],
            validator: SqlValidator, generator: Any) -> int:
    todo = _needs_repair(state, keys)
    if not todo:
        return 0
    documents = _documents(ctx.task_dir)
    ctx.log.info(f"asking {generator.name} to repair {len(todo)} invalid SQL statements in batches of "
                 f"{ctx.params.batch_size} ({len(documents)} DDL/documentation files as context)")
    repaired = 0
    size = ctx.params.batch_size
    for start in range(0, len(todo), size):
        batch = todo[start:start + size]
        verdicts = {i: Verdict.from_dict(state.record(keys[i]).data["verdict"]) for i in batch}
        requests = [RepairItem(sql=pairs[i]["sql"], error=verdicts[i].describe(pairs[i]["sql"]),
                               question=pairs[i]["question"]) for i in batch]
        try:
            answers = list(generator.repair_sql(requests, documents))
        except Exception as exc:  # an LLM outage must not lose the verdicts: the items are retried next time
            message = f"repair request failed: {type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
            ctx.log.warning(f"{message} (SQL at indexes {batch[0]}..{batch[-1]})")
            for i in batch:
                state.start(keys[i])
                state.fail(keys[i], message)
            if not ctx.params.continue_on_error:
                raise PipelineError(f"{message}; stopping because continue_on_error is off") from None
            continue
        answers = (answers + [None] * len(batch))[:len(batch)]
        candidates = [(i, a.strip()) for i, a in zip(batch, answers, strict=True)
                      if isinstance(a, str) and a.strip() and a.strip() != pairs[i]["sql"].strip()]
        checked = validator.validate([sql for _, sql in candidates]) if candidates else []
        fixes = {i: (sql, v) for (i, sql), v in zip(candidates, checked, strict=True)}
        entries: list[tuple[str, dict[str, Any]]] = []
        for i in batch:
            data = {"verdict": verdicts[i].to_dict()}
            if i not in fixes:
                data["repair"] = {"status": "no_fix", "sql": None}
            else:
                sql, verdict = fixes[i]
                if verdict.status == "error":  # the fix could not be checked: retry the item next time
                    state.start(keys[i])
                    state.fail(keys[i], f"the repaired SQL could not be validated: {verdict.error}")
                    continue
                status = "repaired" if verdict.valid else "still_invalid"
                repaired += verdict.valid
                data["repair"] = {"status": status, "sql": sql, "error": verdict.error, "sqlstate": verdict.sqlstate,
                                  "reason": verdict.reason}
                ctx.log.info(f"SQL at index {i}: " + ("repaired" if verdict.valid else
                             f"the proposed repair is still invalid ({verdict.describe(sql)})"))
            entries.append((keys[i], data))
        state.complete_many(entries)
    return repaired


# -- results ------------------------------------------------------------------------------------


def _collect(state: StepState, pairs: list[dict[str, Any]], keys: list[str]) -> tuple[list[dict[str, Any]],
                                                                                      dict[str, Any]]:
    exhausted = set(state.exhausted(keys))
    rows: list[dict[str, Any]] = []
    for i, (pair, key) in enumerate(zip(pairs, keys, strict=True)):
        rec = state.record(key)
        verdict = rec.data.get("verdict")
        row: dict[str, Any] = {"index": i, "question": pair["question"], "sql": pair["sql"]}
        if verdict is None:
            row.update(status="skipped" if key in exhausted else "error", error=rec.error, sqlstate=None, reason=None,
                       position=None, hint=None, duration_ms=None, attempts=rec.attempts)
        else:
            row.update({k: verdict.get(k) for k in ("status", "error", "sqlstate", "reason", "position", "hint",
                                                    "duration_ms", "attempts")})
        if "repair" in rec.data:
            row["repair"] = rec.data["repair"]
        elif verdict is not None and rec.status == "failed":  # validated, but the repair failed: try again later
            row["repair"] = {"status": "failed", "sql": None, "error": rec.error}
            row["unfinished"] = True
        rows.append(row)
    counts = Counter(r["status"] for r in rows)
    total = len(rows)
    repaired = sum(1 for r in rows if (r.get("repair") or {}).get("status") == "repaired")
    totals = {
        "total": total, "valid": counts["valid"], "invalid": counts["invalid"], "errors": counts["error"],
        "skipped": counts["skipped"], "repaired": repaired,
        "repair_failed": sum(1 for r in rows if r.get("unfinished")),
        "success_rate": round(counts["valid"] / total, 4) if total else 1.0,
        "success_rate_after_repair": round((counts["valid"] + repaired) / total, 4) if total else 1.0,
        "by_reason": dict(Counter(r["reason"] or "unknown" for r in rows if r["status"] == "invalid").most_common()),
        "modified": 0, "removed": 0,
    }
    return rows, totals


def _write_outputs(ctx: StepContext, state: StepState, pair_path: Path, original: bytes, pairs: list[dict[str, Any]],
                   rows: list[dict[str, Any]], totals: dict[str, Any], stamp: str, generator: Any,
                   rewritten_already: bool) -> list[Path]:
    task_dir = ctx.task_dir
    outputs: list[Path] = []
    modify = ctx.params.modify_original_file
    new_pairs: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for row, pair in zip(rows, pairs, strict=True):
        repair = row.get("repair") or {}
        if row["status"] != "invalid" or row.get("unfinished"):
            row["action"] = "kept"
            new_pairs.append(pair)
        elif repair.get("status") == "repaired":
            row["action"] = "replaced"
            new_pairs.append({**pair, "sql": repair["sql"]})
            changes.append({"kind": "modified", "row": row, "new": repair["sql"]})
        else:
            row["action"] = "removed"
            changes.append({"kind": "removed", "row": row})
        if not modify:
            row["action"] = "kept"
    if modify:
        totals["modified"] = sum(1 for c in changes if c["kind"] == "modified")
        totals["removed"] = sum(1 for c in changes if c["kind"] == "removed")

    report = task_dir / f"sql_validation_{stamp}_report.json"
    summary = task_dir / f"sql_validation_{stamp}_summary.log"
    doc = {
        "step": STEP, "pair_file": pair_path.name, "stamp": stamp,
        "generated_at": datetime.now().astimezone().isoformat(),
        "database": ctx.business_db.display if pairs else None,
        "generator": generator.name if generator is not None else None,
        "settings": {"statement_timeout_seconds": ctx.params.sql_timeout_seconds,
                     "concurrency": ctx.params.validation_concurrency, "llm_repair": generator is not None,
                     "modify_original_file": modify},
        "totals": totals, "items": rows,
    }
    atomic_write_text(report, json_array_document(doc, "items"))
    atomic_write_text(summary, _summary_text(pair_path.name, stamp, totals, rows, generator, modify))
    outputs += [report, summary]

    if modify:
        modlog = task_dir / f"file_modifications_{stamp}.log"
        backup = _backup_path(pair_path)
        if changes:
            _write_backup(ctx, backup, original)
            outputs.append(backup)
        atomic_write_text(modlog, _modifications_text(pair_path.name, backup.name, stamp, changes, len(pairs)))
        outputs.append(modlog)
        if changes:
            new_text = json_lines_array(new_pairs)
            journal = {"pair_file": pair_path.name, "original_sha256": _sha256(original),
                       "rewritten_sha256": _sha256(new_text.encode("utf-8"))}
            atomic_write_text(state.root / "rewrite.json", json.dumps(journal))
            changed = atomic_write_text(pair_path, new_text)
            if changed or rewritten_already:
                ctx.log.info(f"rewrote {pair_path.name}: {totals['modified']} SQL replaced by repairs, "
                             f"{totals['removed']} invalid pairs removed; original kept in {backup.name}")
            outputs.append(pair_path)
    _remove_superseded_reports(task_dir, stamp)
    return outputs


def _write_backup(ctx: StepContext, backup: Path, original: bytes) -> None:
    """``<pair>.json.backup`` before the rewrite; a backup of this same original is never rewritten."""
    if backup.is_file() and not backup.is_symlink() and sha256_file(backup) == _sha256(original):
        return
    if backup.exists() or backup.is_symlink():
        ctx.log.warning(f"replacing {backup.name} left by an earlier execution with the file as this execution "
                        "found it")
    atomic_write_bytes(backup, original)


def _remove_superseded_reports(task_dir: Path, stamp: str) -> None:
    """A new execution replaces the step's reports in place."""
    for path in task_dir.iterdir():
        if _REPORT.match(path.name) and f"_{stamp}_" not in path.name and not path.is_symlink():
            path.unlink(missing_ok=True)


def json_lines_array(items: Sequence[Any], indent: str = "  ") -> str:
    """A JSON array with one compact element per line: readable, diffable, and written by the C encoder
    (``json.dumps(indent=...)`` falls back to pure Python, 10x slower on 10,000 pairs)."""
    if not items:
        return "[]\n"
    body = ",\n".join(indent + json.dumps(item, ensure_ascii=False) for item in items)
    return f"[\n{body}\n]\n"


def json_array_document(doc: dict[str, Any], array_key: str) -> str:
    """``doc`` as indented JSON whose (long) ``array_key`` list has one compact element per line."""
    head = {k: v for k, v in doc.items() if k != array_key}
    text = json.dumps({**head, array_key: None}, ensure_ascii=False, indent=1)
    marker = f'"{array_key}": null'
    return text.replace(marker, f'"{array_key}": ' + json_lines_array(doc[array_key], " ").rstrip("\n")
                        .replace("\n", "\n "), 1) + "\n"


def _one_line(text: str | None, limit: int = 400) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def _summary_text(pair_name: str, stamp: str, totals: dict[str, Any], rows: list[dict[str, Any]], generator: Any,
                  modify: bool) -> str:
    lines = [
        "SQL validation summary",
        "======================",
        f"pair file:        {pair_name}",
        f"run:              {stamp}",
        f"total:            {totals['total']}",
        f"valid:            {totals['valid']}",
        f"invalid:          {totals['invalid']}",
        f"not validated:    {totals['errors'] + totals['skipped']}"
        + (f" ({totals['skipped']} out of attempts)" if totals["skipped"] else ""),
        f"success rate:     {totals['success_rate']:.2%}",
        f"LLM repair:       {_repairer(generator)}",
    ]
    if generator is not None:
        lines += [f"repaired:         {totals['repaired']}",
                  f"rate after repair:{totals['success_rate_after_repair']:.2%}"]
    if modify:
        lines += [f"pair file:        {totals['modified']} SQL replaced, {totals['removed']} pairs removed"]
    if totals["by_reason"]:
        lines += ["", "Invalid SQL by reason:"]
        lines += [f"  {reason}: {count}" for reason, count in totals["by_reason"].items()]
    problems = [r for r in rows if r["status"] != "valid"]
    if problems:
        lines += ["", "Errors:"]
        for r in problems:
            state = {"invalid": "INVALID", "error": "NOT VALIDATED", "skipped": "SKIPPED"}[r["status"]]
            code = f" [{r['sqlstate']}]" if r.get("sqlstate") else ""
            where = f" (at character {r['position']})" if r.get("position") else ""
            lines.append(f"#{r['index']} {state}{code} {r['reason'] or ''}: {_one_line(r['error'])}{where}")
            lines.append(f"    question: {_one_line(r['question'])}")
            lines.append(f"    sql:      {_one_line(r['sql'])}")
            if r.get("hint"):
                lines.append(f"    hint:     {_one_line(r['hint'])}")
            repair = r.get("repair")
            if repair:
                if repair["status"] == "repaired":
                    lines.append(f"    repaired: {_one_line(repair['sql'])}")
                elif repair["status"] == "still_invalid":
                    lines.append(f"    repair still invalid ({_one_line(repair.get('error'))}): "
                                 f"{_one_line(repair['sql'])}")
                elif repair["status"] == "failed":
                    lines.append(f"    repair failed: {_one_line(repair.get('error'))}")
                else:
                    lines.append("    repair: none offered")
            if modify and r["status"] == "invalid":
                lines.append(f"    action:   {r.get('action')}")
    return "\n".join(lines) + "\n"


def _repairer(generator: Any) -> str:
    if generator is None:
        return "off"
    return "offline generator (offers no repairs)" if generator.name == "offline" else generator.name


def _modifications_text(pair_name: str, backup_name: str, stamp: str, changes: list[dict[str, Any]],
                        total: int) -> str:
    modified = [c for c in changes if c["kind"] == "modified"]
    removed = [c for c in changes if c["kind"] == "removed"]
    lines = [
        f"File modifications of {pair_name} (run {stamp})",
        f"original kept in: {backup_name}" if changes else "no changes: every SQL was valid; the file is untouched",
        f"pairs before: {total}, after: {total - len(removed)}; modified: {len(modified)}, removed: {len(removed)}",
        "indexes are positions in the ORIGINAL file (0-based)",
    ]
    for change in changes:
        row = change["row"]
        lines.append("")
        if change["kind"] == "modified":
            lines.append(f"MODIFIED index {row['index']}: {_one_line(row['question'])}")
            lines.append(f"  old: {_one_line(row['sql'], 2000)}")
            lines.append(f"  new: {_one_line(change['new'], 2000)}")
            lines.append(f"  was: [{row['sqlstate'] or '-'}] {_one_line(row['error'])}")
        else:
            repair = row.get("repair") or {}
            why = {"still_invalid": "the proposed repair was invalid too", "no_fix": "no repair offered",
                   "failed": "the repair request failed"}.get(repair.get("status"), "repair disabled")
            lines.append(f"REMOVED index {row['index']}: {_one_line(row['question'])}")
            lines.append(f"  sql: {_one_line(row['sql'], 2000)}")
            lines.append(f"  reason: [{row['sqlstate'] or row['reason'] or '-'}] {_one_line(row['error'])} ({why})")
    return "\n".join(lines) + "\n"


# -- what the step registry loads (data_pipeline.steps.registry.BatchedStep) --------------------------

class SqlValidation:
    """Delegates to this module's functions, looked up at call time."""

    def run(self, ctx: StepContext) -> StepResult:
        return run(ctx)

    def plan_batches(self, ctx: StepContext) -> list[range]:
        return plan_batches(ctx)

    def run_batch(self, ctx: StepContext, batch: int) -> StepResult:
        return run_batch(ctx, batch)

    def batches_complete(self, ctx: StepContext) -> bool:
        return batches_complete(ctx)

    def merge(self, ctx: StepContext) -> StepResult:
        return merge(ctx)


IMPLEMENTATION = SqlValidation()
