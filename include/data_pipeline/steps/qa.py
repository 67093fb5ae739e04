"""Step 2, qa_generation: business themes, then question/SQL pairs per theme.

Items: the theme extraction, then one item per theme. Both live in the step's resumable state, so a
retry after a kill re-asks only the themes that had not finished; the extracted themes and the chosen
output file name are kept in the state too, so a resumed run writes the very same pair file. Earlier
pair files are moved into ``previous_pairs/``: step 3 must find exactly one pair file.
"""

from __future__ import annotations

import json
import os
import re
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from data_pipeline.errors import InvalidInput, PipelineError, StepFailed
from data_pipeline.files.journal import idempotent_move
from data_pipeline.files.table_list import TableRef, read_table_list
from data_pipeline.files.task_dir import TABLE_LIST_FILE, atomic_write_text
from data_pipeline.schema.metadata_sql import render_metadata_detail, render_metadata_sql
from data_pipeline.schema.model import QAPair, TableInfo, Theme
from data_pipeline.schema.sidecars import load_table_infos, sidecar_path
from data_pipeline.secrets_mask import mask
from data_pipeline.steps.context import StepContext, StepResult
from data_pipeline.steps.state import StepState, fingerprint, sha256_file

STEP = "qa_generation"
THEMES_KEY = "themes"
PREVIOUS_DIR = "previous_pairs"
METADATA_FILE = "metadata.txt"
METADATA_DETAIL_FILE = "metadata_detail.md"
PAIR_FILE = re.compile(r"^qs_.+_\d{8}_\d{6}_pair\.json(\.backup)?$")
RENDER_VERSION = 1  # bump when the outputs' format changes, so a retry does not mix formats


@dataclass
class _TableDocs:
    ref: TableRef
    ddl: Path
    md: Path


def pair_file_name(db_name: str, when: datetime) -> str:
    safe = re.sub(r"[^\w.-]+", "_", db_name, flags=re.UNICODE).strip("._") or "db"
    return f"qs_{safe[:80]}_{when.strftime('%Y%m%d_%H%M%S')}_pair.json"


def _table_refs(ctx: StepContext) -> list[TableRef]:
    path = ctx.task_dir / TABLE_LIST_FILE
    if not path.is_file():
        raise InvalidInput(f"{TABLE_LIST_FILE} is missing in {ctx.task_dir.name}; qa_generation works on the tables "
                           "listed there (run ddl_generation first)", missing_files=[TABLE_LIST_FILE])
    parsed = read_table_list(path)
    if not parsed.tables:
        raise InvalidInput(f"{TABLE_LIST_FILE} lists no tables")
    return parsed.tables


def _sidecar_ref(task_dir: Path, stem: str) -> TableRef | None:
    """The exact table behind step 1's files named ``stem`` (its stored structure names it)."""
    try:
        data = json.loads((sidecar_path(task_dir, TableRef("public", stem))).read_text(encoding="utf-8"))
        return TableRef(data["schema_name"], data["name"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _locate_documents(ctx: StepContext, refs: list[TableRef]) -> list[_TableDocs]:
    """Every table's ``.ddl`` and ``_detail.md``; one error naming every missing file."""
    task_dir = ctx.task_dir
    existing = {p.name for p in task_dir.iterdir() if p.is_file()}
    lowered: dict[str, list[str]] = {}
    for name in existing:
        if name.endswith(".ddl"):
            lowered.setdefault(name[:-4].lower(), []).append(name[:-4])
    found: list[_TableDocs] = []
    missing: list[str] = []
    for ref in refs:
        stem = ref.file_stem
        if f"{stem}.ddl" not in existing:
            # a listed name that step 1 matched case-insensitively (``Orders`` for the table orders)
            candidates = lowered.get(stem.lower(), [])
            if len(candidates) == 1:
                actual = _sidecar_ref(task_dir, candidates[0])
                if actual is not None and actual.file_stem == candidates[0]:
                    ref, stem = actual, candidates[0]
        ddl, md = f"{stem}.ddl", f"{stem}_detail.md"
        absent = [n for n in (ddl, md) if n not in existing]
        missing.extend(absent)
        if not absent:
            found.append(_TableDocs(ref, task_dir / ddl, task_dir / md))
    if missing:
        raise InvalidInput(f"qa_generation needs the DDL and documentation of every listed table; missing in "
                           f"{task_dir.name}: {', '.join(missing)}. Run ddl_generation first.", missing_files=missing)
    return found


def _db_name(ctx: StepContext) -> str:
    try:
        name = ctx.business_db.db_name
    except PipelineError:
        name = ""
    return name or "db"


def _theme_key(index: int, theme: Theme) -> str:
    return f"theme:{index + 1:03d}:{theme.topic}"


def _documents_for(theme: Theme, docs: list[_TableDocs], texts: dict[Path, str]) -> list[str]:
    wanted = set(theme.related_tables)
    chosen = [d for d in docs if d.ref.display in wanted or d.ref.name in wanted or d.ref.qualified in wanted]
    chosen = chosen or docs
    return [texts[d.md] for d in chosen] + [texts[d.ddl] for d in chosen]


def _move_previous_pairs(ctx: StepContext, keep: str) -> list[str]:
    """Earlier ``qs_*_pair.json`` (and ``.backup``) files go to ``previous_pairs/``; a repeated move is a no-op."""
    moved: list[str] = []
    target_dir = ctx.task_dir / PREVIOUS_DIR
    for entry in sorted(os.scandir(ctx.task_dir), key=lambda e: e.name):
        if not entry.is_file(follow_symlinks=False) or not PAIR_FILE.match(entry.name):
            continue
        if entry.name in (keep, keep + ".backup"):
            continue
        target = target_dir / entry.name
        counter = 1
        while os.path.lexists(target):
            target = target_dir / f"{entry.name}.{counter}"
            counter += 1
        idempotent_move(Path(entry.path), target)
        moved.append(entry.name)
    if moved:
        ctx.log.info(f"moved {len(moved)} earlier pair file(s) into {PREVIOUS_DIR}/: {', '.join(moved)}")
    return moved


def _extract_themes(ctx: StepContext, state: StepState, documents: list[str], infos: list[TableInfo],
                    db_name: str) -> dict[str, Any]:
    if state.is_completed(THEMES_KEY):
        data = state.record(THEMES_KEY).data
        ctx.log.info(f"resuming: {len(data['themes'])} theme(s) already extracted; pair file {data['pair_file']}")
        return data
    state.start(THEMES_KEY)
    try:
        themes = ctx.generator.extract_themes(documents, infos, ctx.params.business_context, ctx.params.themes)
    except Exception as exc:
        state.fail(THEMES_KEY, mask(str(exc)))
        raise
    if not themes:
        state.fail(THEMES_KEY, "no themes")
        raise PipelineError("the generator found no business themes in the documents of the listed tables")
    now = datetime.now().replace(microsecond=0)
    # a new run within the same second as the previous one must not reuse (and overwrite) its file name
    while any((ctx.task_dir / sub / pair_file_name(db_name, now)).exists() for sub in ("", PREVIOUS_DIR)):
        now += timedelta(seconds=1)
    data = {"themes": [t.model_dump() for t in themes], "pair_file": pair_file_name(db_name, now),
            "generated_at": now.isoformat(timespec="seconds")}
    state.complete(THEMES_KEY, data=data)
    ctx.log.info(f"extracted {len(themes)} theme(s): " + "; ".join(t.topic for t in themes))
    return data


def _unique_pairs(pairs: list[QAPair], seen: set[str]) -> tuple[list[QAPair], int]:
    kept: list[QAPair] = []
    for pair in pairs:
        key = " ".join(pair.question.split()).lower()
        if key in seen:
            continue
        seen.add(key)
        kept.append(pair)
    return kept, len(pairs) - len(kept)


def run(ctx: StepContext) -> StepResult:
    refs = _table_refs(ctx)
    docs = _locate_documents(ctx, refs)
    texts = {p: p.read_text(encoding="utf-8") for d in docs for p in (d.ddl, d.md)}
    infos = load_table_infos(ctx, [d.ref for d in docs])
    generator = ctx.generator
    params = ctx.params
    db_name = _db_name(ctx)
    documents = [texts[d.md] for d in docs]  # the Markdown holds columns, comments, keys, samples and enums
    base_fp = fingerprint(STEP, RENDER_VERSION, generator.name, params.themes, params.questions_per_theme,
                          params.business_context, db_name, [(d.ref.qualified, sha256_file(d.ddl), sha256_file(d.md))
                                                             for d in docs])
    theme_state = ctx.state(STEP, "themes")
    summary = theme_state.begin(base_fp, [THEMES_KEY])
    if summary.exhausted:
        # Without themes there is nothing to skip to: start the extraction afresh rather than fail forever.
        ctx.log.warning(f"theme extraction had failed {params.max_retries} times; trying again from scratch")
        theme_state.reset()
        summary = theme_state.begin(base_fp, [THEMES_KEY])
    ctx.log.info(f"qa_generation with generator {generator.name}: {len(docs)} table(s), {params.themes} theme(s) × "
                 f"{params.questions_per_theme} question(s)" + (" (resuming)" if summary.resumed else ""))
    data = _extract_themes(ctx, theme_state, documents, infos, db_name)
    themes = [Theme.model_validate(t) for t in data["themes"]]
    pair_name: str = data["pair_file"]
    keys = [_theme_key(i, t) for i, t in enumerate(themes)]
    by_key = dict(zip(keys, themes, strict=True))

    pair_state = ctx.state(STEP, "pairs")
    pair_summary = pair_state.begin(fingerprint(base_fp, data), keys)
    total = 1 + len(keys)
    pending = pair_state.pending(keys)
    exhausted = pair_state.exhausted(keys)
    already = len(keys) - len(pending) - len(exhausted)
    for key in exhausted:
        ctx.log.warning(f"theme {by_key[key].topic!r} skipped: it failed {params.max_retries} times")
    done = 1 + already
    ctx.progress(done, total, what="items", force=True)
    errors: list[dict[str, Any]] = []
    failed_now: list[str] = []
    workers = max(1, min(int(getattr(generator, "concurrency", 1) or 1), len(pending) or 1))

    def work(theme: Theme) -> list[QAPair]:
        return generator.generate_pairs(theme, _documents_for(theme, docs, texts), infos, params.business_context,
                                        params.questions_per_theme)

    stop_error: str | None = None
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qa") as pool:
        queue = list(pending)
        running: dict[Future[list[QAPair]], str] = {}
        while queue or running:
            while queue and len(running) < workers and stop_error is None:
                key = queue.pop(0)
                pair_state.start(key)
                running[pool.submit(work, by_key[key])] = key
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                key = running.pop(future)
                theme = by_key[key]
                try:
                    pairs = future.result()
                    if not pairs:
                        raise PipelineError("the generator returned no usable question/SQL pair")
                except Exception as exc:
                    message = mask(getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}")
                    record = pair_state.fail(key, message)
                    failed_now.append(key)
                    errors.append({"item": key, "theme": theme.topic, "error": message, "attempts": record.attempts})
                    ctx.log.error(f"theme {theme.topic!r} failed (attempt {record.attempts} of {params.max_retries})"
                                  f": {message}")
                    if not params.continue_on_error and stop_error is None:
                        stop_error = f"theme {theme.topic!r} failed: {message}"
                    continue
                pair_state.complete(key, data={"pairs": [p.model_dump() for p in pairs]})
                done += 1
                ctx.log.info(f"theme {theme.topic!r}: {len(pairs)} pair(s)")
                ctx.progress(done, total, what="items")
            if stop_error is not None:
                queue.clear()
    if stop_error is not None:
        raise StepFailed(f"{stop_error} (continue_on_error is off; a retry resumes with the unfinished themes)")

    seen: set[str] = set()
    all_pairs: list[QAPair] = []
    per_theme: list[dict[str, Any]] = []
    pair_counts: dict[str, int] = {}
    duplicates = 0
    records = pair_state.records()
    for key in keys:
        theme = by_key[key]
        record = records.get(key)
        status = record.status if record is not None else "pending"
        if key in exhausted:
            status = "skipped"
        pairs: list[QAPair] = []
        if status == "completed" and record is not None:
            pairs, dropped = _unique_pairs([QAPair.model_validate(p) for p in record.data.get("pairs", [])], seen)
            duplicates += dropped
        all_pairs.extend(pairs)
        pair_counts[theme.topic] = len(pairs)
        per_theme.append({"theme": theme.topic, "status": status, "pairs": len(pairs)})
    if duplicates:
        ctx.log.info(f"{duplicates} pair(s) repeated a question of another theme and were left out")
    if not all_pairs:
        if not pending:
            pair_state.reset()  # every theme was out of attempts: the next run tries them all again
        raise PipelineError("no question/SQL pairs were generated: every theme failed; see the errors in the task log",
                            errors=errors)

    moved = _move_previous_pairs(ctx, pair_name)
    generated_at = data["generated_at"]
    pair_path = ctx.task_dir / pair_name
    atomic_write_text(pair_path, json.dumps([{"question": p.question, "sql": p.sql} for p in all_pairs],
                                            ensure_ascii=False, indent=2) + "\n")
    metadata_path = ctx.task_dir / METADATA_FILE
    atomic_write_text(metadata_path, render_metadata_sql(themes, db_name=db_name, generated_by=generator.name,
                                                         generated_at=generated_at))
    detail_path = ctx.task_dir / METADATA_DETAIL_FILE
    atomic_write_text(detail_path, render_metadata_detail(themes, db_name=db_name, generated_by=generator.name,
                                                          generated_at=generated_at, pair_counts=pair_counts))
    if not failed_now:
        # Failed themes keep the scopes open: the next run (or Airflow retry) redoes only those themes.
        theme_state.finish()
        pair_state.finish()
    completed = sum(1 for t in per_theme if t["status"] == "completed")
    ctx.progress(1 + completed, total, what="items", force=True)
    ctx.log.info(f"wrote {len(all_pairs)} question/SQL pair(s) for {completed} of {len(themes)} theme(s) to "
                 f"{pair_name}, plus {METADATA_FILE} and {METADATA_DETAIL_FILE}")
    return StepResult(
        step=STEP,
        items_total=total,
        items_completed=1 + completed,
        items_failed=len(failed_now),
        items_skipped=len(exhausted),
        resumed=summary.resumed or pair_summary.resumed,
        already_completed=(1 if summary.resumed else 0) + already,
        outputs=[pair_name, METADATA_FILE, METADATA_DETAIL_FILE],
        errors=errors,
        details={"generator": generator.name, "db_name": db_name, "pair_file": pair_name, "pairs": len(all_pairs),
                 "themes": per_theme, "duplicates_removed": duplicates, "moved_to_previous_pairs": moved,
                 "tables": len(docs)},
    )


# The module itself implements the registry's protocol (Step): its functions are looked up at call
# time, so nothing is restated here.
IMPLEMENTATION = sys.modules[__name__]
