"""Step 4, ``training_load``: embed the task's DDL, documentation and question/SQL pairs into pgvector.

Documents come from ``training_docs`` (ids stable per content), vectors from ``ctx.embedder``, rows go
to the langchain-postgres layout through ``vector_store`` (upserts, so loading again updates).

Resumability: the items are the documents, keyed by their id. Each load has a ``load_id`` kept in the
step's state folder and written into every row's metadata in the same transaction as the row, so the
rows themselves are the record of which documents are done: a rerun after a kill asks the store which
ids already carry this ``load_id`` and embeds only the others (a state file per document, written
after the commit, would both lag the data and cost as much as the load itself at 10k documents).
``StepState`` keeps the scope (fingerprint, resume or afresh) and per-document failures and attempts.

The store mirrors the task: rows this task loaded earlier whose document no longer exists (a
regenerated pair file, a timestamp in a regenerated heading) are removed at the end, so re-running
the pipeline never piles up stale versions. A row is shared when two tasks load the same text; it
counts for the task that loaded it last.

Throughput: embedding (CPU, this process) and writing (COPY + merge, mostly server time) overlap —
one writer thread upserts chunk N while chunk N+1 is embedded.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import psycopg
import tenacity

from data_pipeline.errors import InvalidInput, PipelineError
from data_pipeline.files.task_dir import atomic_write_text
from data_pipeline.generation.embedding import Embedder, EmbeddingError
from data_pipeline.secrets_mask import mask
from data_pipeline.steps.context import StepContext, StepResult
from data_pipeline.steps.state import StepState, fingerprint
from data_pipeline.vectors.backup import BACKUP_DIR, backup_vector_tables
from data_pipeline.vectors.identity import EmbedderIdentity, check_collections, record
from data_pipeline.vectors.store import (
    COLLECTIONS,
    LOADED_COLLECTIONS,
    UpsertCounts,
    VectorRow,
    VectorStoreError,
    connect,
    count_rows,
    delete_stale,
    describe_dsn,
    ensure_collections,
    ensure_schema,
    loaded_ids,
    upsert,
    vector_dsn,
)
from data_pipeline.vectors.training_docs import TrainingDoc, collect_documents

STEP = "training_load"
RUN_FILE = "load.json"
DB_ATTEMPTS = 4


def run(ctx: StepContext) -> StepResult:
    collected = collect_documents(ctx.task_dir)
    docs = collected.documents
    if not docs:
        raise InvalidInput(f"nothing to load in task directory {ctx.task_dir.name}: no .ddl, _detail.md, "
                           "metadata.txt or _pair.json file with content (run ddl_generation and qa_generation "
                           "first)")
    by_kind = ", ".join(f"{n} {c}" for c, n in sorted(collected.per_collection.items()))
    ctx.log.info(f"collected {len(docs)} documents ({by_kind}) from {len(collected.files)} files"
                 + (f"; {collected.duplicates} duplicate documents loaded once" if collected.duplicates else ""))
    embedder = ctx.embedder
    dsn = vector_dsn()
    task_label = ctx.task_id or ctx.task_dir.name
    keys = [d.id for d in docs]
    state = ctx.state(STEP)
    summary = state.begin(fingerprint(STEP, 1, embedder.name, task_label, ctx.params.backup_vector_tables,
                                      ctx.params.truncate_vector_tables, keys), keys)
    load = _load_info(state, resumed=summary.resumed, embedder=embedder.name)
    outputs: list[str] = []

    with connect(dsn) as conn:
        ensure_schema(conn)
    if ctx.params.backup_vector_tables and load.get("backup") is None:
        truncate = LOADED_COLLECTIONS if ctx.params.truncate_vector_tables else ()
        backup = backup_vector_tables(ctx.task_dir, dsn, truncate_collections=truncate)
        load["backup"] = backup
        _save_load_info(state, load)
        rows = ", ".join(f"{table} {n} rows" for table, n in backup["rows"].items())
        ctx.log.info(f"backed up the vector tables into {BACKUP_DIR}/ (backup {backup['backup_name']}: {rows})"
                     + (f"; emptied collections {', '.join(truncate)}: {backup['rows_deleted']} rows deleted"
                        if truncate else ""))
    if load.get("backup"):
        outputs += [*load["backup"]["files"], load["backup"]["log_file"]]

    kinds = {d.collection for d in docs}
    with connect(dsn) as conn:
        collection_ids = ensure_collections(conn, COLLECTIONS)
        done = loaded_ids(conn, keys, {"load_id": load["load_id"]}) if summary.resumed else set()
        # the embedder that wrote each collection is recorded in it: another one is refused (vectors.identity)
        check_collections(conn, kinds, embedder.name, lambda: embedder.dimension)
    exhausted = set(state.exhausted(keys))
    todo = [d for d in docs if d.id not in done and d.id not in exhausted]
    if summary.resumed:
        ctx.log.info(f"resuming load {load['load_id']}: {len(done)} of {len(docs)} documents already in the store, "
                     f"{len(todo)} to embed" + (f", {len(exhausted)} out of attempts" if exhausted else ""))

    loader = _Loader(ctx, state, embedder, dsn, collection_ids, load, task_label)
    loader.done = len(done)
    loader.total = len(docs)
    loader.load_all(todo)

    with connect(dsn) as conn:
        stale = delete_stale(conn, task_label, load["load_id"], keys)
        if loader.loaded or done:
            record(conn, kinds, EmbedderIdentity(embedder.name, embedder.dimension))
        conn.commit()
        task_rows = count_rows(conn, task_id=task_label)
        totals = count_rows(conn)
    if stale:
        ctx.log.info(f"removed {stale} rows of this task from an earlier load whose documents no longer exist "
                     "(regenerated or deleted files)")
    errors = [{"item": doc.id, "source": doc.source, "collection": doc.collection, "error": err}
              for doc, err in loader.failed]
    errors += [{"item": k, "error": f"skipped: failed {state.record(k).attempts} times: {state.record(k).error}"}
               for k in sorted(exhausted)]
    state.finish()
    loaded = {name: {"inserted": c.inserted, "updated": c.updated} for name, c in sorted(loader.counts.items())}
    ctx.log.info("loaded " + (", ".join(f"{n}: {c['inserted']} new, {c['updated']} updated" for n, c in loaded.items())
                              or "nothing new")
                 + f"; this task now has {sum(task_rows.values())} rows in the store ("
                 + ", ".join(f"{k} {v}" for k, v in task_rows.items()) + f"), store total {sum(totals.values())}")
    completed = len(done) + loader.loaded
    return StepResult(
        step=STEP,
        status="failed" if completed == 0 else "completed",
        error_message="no document could be loaded" if completed == 0 else None,
        items_total=len(docs), items_completed=completed, items_failed=len(loader.failed),
        items_skipped=len(exhausted), resumed=summary.resumed, already_completed=len(done),
        outputs=outputs, errors=errors,
        details={
            "vector_store": describe_dsn(dsn),
            "embedder": embedder.name,
            "dimension": embedder.dimension,
            "load_id": load["load_id"],
            "task_id": task_label,
            "files": collected.per_source,
            "documents": collected.per_collection,
            "duplicates_skipped": collected.duplicates,
            "stale_rows_removed": stale,
            "loaded_this_run": loaded,
            "task_rows": task_rows,
            "store_totals": totals,
            "backup": load.get("backup"),
        },
    )


def _load_info(state: StepState, *, resumed: bool, embedder: str) -> dict[str, Any]:
    """The load id (and backup done) of this scope: kept across a resume, new for a fresh run."""
    path = state.root / RUN_FILE
    if resumed:
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(info, dict) and info.get("load_id"):
                return info
        except (OSError, ValueError):
            pass
    info = {"load_id": uuid.uuid4().hex, "started_at": datetime.now(UTC).isoformat(), "embedder": embedder,
            "backup": None}
    _save_load_info(state, info)
    return info


def _save_load_info(state: StepState, info: dict[str, Any]) -> None:
    atomic_write_text(state.root / RUN_FILE, json.dumps(info, ensure_ascii=False, indent=1))


class _Loader:
    """Embeds chunks in this thread while one writer thread upserts the previous chunk."""

    def __init__(self, ctx: StepContext, state: StepState, embedder: Embedder, dsn: str,
                 collection_ids: dict[str, uuid.UUID], load: dict[str, Any], task_label: str) -> None:
        self.ctx = ctx
        self.state = state
        self.embedder = embedder
        self.dsn = dsn
        self.collection_ids = collection_ids
        self.task_label = task_label
        self.load_id = load["load_id"]
        self.counts: dict[str, UpsertCounts] = {}
        self.failed: list[tuple[TrainingDoc, str]] = []
        self.loaded = 0
        self.done = 0
        self.total = 0
        self._conn: psycopg.Connection | None = None

    def load_all(self, todo: list[TrainingDoc]) -> None:
        size = max(self.ctx.params.batch_size, int(getattr(self.embedder, "preferred_chunk", 0) or 0))
        self.ctx.progress(self.done, self.total, what="documents", force=True)
        pending: Future[dict[str, UpsertCounts]] | None = None
        pending_docs: list[TrainingDoc] = []
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vector-writer") as writer:
                for start in range(0, len(todo), size):
                    chunk = todo[start:start + size]
                    ok, failures = self._embed(chunk)
                    self._record_failures(failures)
                    rows = self._rows(ok)
                    if pending is not None:
                        self._settle(pending, pending_docs)
                    pending, pending_docs = writer.submit(self._write, rows), [d for d, _ in ok]
                if pending is not None:
                    self._settle(pending, pending_docs)
                    pending = None
        finally:
            if self._conn is not None:
                self._conn.close()

    def _settle(self, future: Future[dict[str, UpsertCounts]], docs: list[TrainingDoc]) -> None:
        for name, counts in future.result().items():
            self.counts.setdefault(name, UpsertCounts()).add(counts)
        self.loaded += len(docs)
        self.done += len(docs)
        self.ctx.progress(self.done, self.total, what="documents")

    def _embed(self, docs: list[TrainingDoc]) -> tuple[list[tuple[TrainingDoc, Sequence[float]]],
                                                       list[tuple[TrainingDoc, str]]]:
        """Vectors for ``docs``; a batch the endpoint rejects is halved until the bad documents are found."""
        if not docs:
            return [], []
        try:
            vectors = self.embedder.embed([d.text for d in docs])
        except EmbeddingError as exc:
            if exc.fatal:
                raise
            if len(docs) == 1:
                return [], [(docs[0], exc.message)]
            mid = len(docs) // 2
            ok1, bad1 = self._embed(docs[:mid])
            ok2, bad2 = self._embed(docs[mid:])
            return ok1 + ok2, bad1 + bad2
        if len(vectors) != len(docs):
            raise EmbeddingError(f"embedder {self.embedder.name} returned {len(vectors)} vectors for {len(docs)} texts")
        dim = self.embedder.dimension
        for vec in vectors:
            if len(vec) != dim:
                raise EmbeddingError(f"embedder {self.embedder.name} returned a {len(vec)}-dimensional vector; "
                                     f"expected {dim}")
        return list(zip(docs, vectors, strict=True)), []

    def _record_failures(self, failures: list[tuple[TrainingDoc, str]]) -> None:
        for doc, error in failures:
            self.state.start(doc.id)  # counts the attempt
            rec = self.state.fail(doc.id, error)
            self.failed.append((doc, error))
            self.ctx.log.warning(f"document {doc.id} from {doc.source} could not be embedded "
                                 f"(attempt {rec.attempts}): {error}")
        if failures and not self.ctx.params.continue_on_error:
            doc, error = failures[0]
            raise PipelineError(f"embedding failed for a document from {doc.source}: {error} "
                                f"(continue_on_error is off)")

    def _rows(self, embedded: list[tuple[TrainingDoc, Sequence[float]]]) -> list[VectorRow]:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        base = {"task_id": self.task_label, "load_id": self.load_id, "embedding_model": self.embedder.name,
                "loaded_at": stamp}
        return [VectorRow(id=d.id, collection=d.collection, embedding=vec, document=d.text,
                          cmetadata={"id": d.id, **base, "source": d.source, **d.extra})
                for d, vec in embedded]

    def _write(self, rows: list[VectorRow]) -> dict[str, UpsertCounts]:
        """Upsert one chunk; a lost connection (server restart, network) is retried on a new one."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(psycopg.OperationalError),
            stop=tenacity.stop_after_attempt(DB_ATTEMPTS),
            wait=tenacity.wait_exponential(multiplier=2, max=10),
            before_sleep=self._log_db_retry, reraise=True)
        try:
            return retrying(self._write_once, rows)
        except psycopg.OperationalError as exc:
            raise VectorStoreError(f"writing to the vector store {describe_dsn(self.dsn)} failed "
                                   f"{DB_ATTEMPTS} times: {mask(str(exc)).strip()}") from None

    def _write_once(self, rows: list[VectorRow]) -> dict[str, UpsertCounts]:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.dsn, connect_timeout=15, application_name="data_pipeline")
            return upsert(self._conn, rows, self.collection_ids)
        except psycopg.OperationalError:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            raise

    def _log_db_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        self.ctx.log.warning(f"vector store write failed (attempt {state.attempt_number}): "
                             f"{mask(str(exc)).strip()}; retrying on a new connection")


# The module itself implements the registry's protocol (Step): its functions are looked up at call
# time, so nothing is restated here.
IMPLEMENTATION = sys.modules[__name__]
