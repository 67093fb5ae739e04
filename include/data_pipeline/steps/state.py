"""Per-item state that makes every step resumable.

Each item (table, pair, document) has its own small JSON record under
``<task dir>/.state/<step>/<scope>/items/``, written atomically (temp file + rename) the moment the
item starts and again when it finishes, so a ``kill -9`` loses at most the item in flight. A completed
item is trusted only if the outputs it recorded still have the recorded SHA-256. A scope is finished
once the step ends; the next execution of a finished scope starts afresh, while a retry of an
unfinished one resumes.

Attempts: ``start`` counts one. An item still ``running`` when state is read again was in flight when
its process died (one writer per scope); that counts as a failed attempt, so an item that kills the
process every time is skipped after ``max_retries`` like one that fails. A step processing items one
after another may announce the next item's start inside the previous item's completion record
(``complete(..., then_start=next)``): one file write per item instead of two, same meaning.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, TypeAdapter

from data_pipeline.files.task_dir import atomic_write_bytes, atomic_write_text, state_dir

ItemStatus = Literal["pending", "running", "completed", "failed", "skipped"]
INTERRUPTED = "interrupted: the process stopped while this item was in progress"


def sha256_file(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def fingerprint(*parts: Any) -> str:
    """A stable hash of the inputs that decide a step's outputs (JSON-serialisable parts)."""
    payload = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


class ItemRecord(BaseModel):
    key: str
    status: ItemStatus = "pending"
    attempts: int = 0
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None
    outputs: dict[str, str] = Field(default_factory=dict)  # path relative to the task dir -> sha256
    data: dict[str, Any] = Field(default_factory=dict)


_BATCH = TypeAdapter(list[ItemRecord])
BATCH_SUFFIX = ".batch.json"  # several records in one file, written by ``complete_many``


class ScopeInfo(BaseModel):
    fingerprint: str
    total: int
    finished: bool = False
    created_at: datetime
    resumed_times: int = 0


class ResumeSummary(BaseModel):
    resumed: bool
    total: int
    already_completed: int
    to_process: int
    exhausted: list[str] = Field(default_factory=list)


class StepState:
    """The per-item state of one step (or one batch of a step) in a task directory."""

    def __init__(self, task_dir: Path, step: str, scope: str = "all", *, max_retries: int = 3,
                 run_key: str | None = None) -> None:
        self.task_dir = task_dir
        self.run_key = run_key
        self.root = state_dir(task_dir) / step / scope
        self.items_dir = self.root / "items"
        self.max_retries = max_retries
        self.info: ScopeInfo | None = None  # as of the last begin/load
        self._records: dict[str, ItemRecord] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def key(self, fp: str) -> str:
        """The fingerprint a scope is stored under: the inputs' ``fp`` and the run it belongs to.

        A retry of the same run (same ``run_key``) resumes; a new run of the task starts afresh even where
        the inputs are unchanged, so a step the user asks for again really runs again.
        """
        return fingerprint(fp, self.run_key) if self.run_key else fp

    def begin(self, fp: str, keys: Sequence[str]) -> ResumeSummary:
        """Load state for ``keys``; resume an unfinished scope of this run with the same inputs, else start afresh."""
        fp = self.key(fp)
        info = self._read_info()
        resumed = info is not None and info.fingerprint == fp and not info.finished
        if not resumed:
            shutil.rmtree(self.root, ignore_errors=True)
            self._records = {}
        else:
            self._records = self._load_records()
        self.items_dir.mkdir(parents=True, exist_ok=True)
        new_info = ScopeInfo(fingerprint=fp, total=len(keys), created_at=datetime.now(UTC),
                             resumed_times=(info.resumed_times + 1) if resumed and info else 0)
        if resumed and info:
            new_info.created_at = info.created_at
        # No fsync: if this record is lost the scope simply starts afresh.
        atomic_write_text(self.root / "scope.json", new_info.model_dump_json(indent=1), durable=False)
        self.info = new_info
        done = sum(1 for k in keys if self.is_completed(k))
        exhausted = [k for k in keys if self._exhausted(k)]
        return ResumeSummary(resumed=resumed, total=len(keys), already_completed=done,
                             to_process=len(keys) - done - len(exhausted), exhausted=exhausted)

    def load(self) -> ScopeInfo | None:
        """Read the scope's state without changing anything (a merge or a progress count across batches)."""
        self._records = self._load_records()
        self.info = self._read_info()
        return self.info

    def finish(self, *, durable: bool = True) -> None:
        """Mark the scope finished: its next execution starts afresh. ``durable=False`` for a step whose
        fingerprints already tell one execution from the next (losing the mark then changes nothing)."""
        info = self._read_info()
        if info is not None:
            info.finished = True
            atomic_write_text(self.root / "scope.json", info.model_dump_json(indent=1), durable=durable)
            self.info = info

    def reset(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self._records = {}

    # -- items -------------------------------------------------------------------------------

    def record(self, key: str) -> ItemRecord:
        return self._records.get(key) or ItemRecord(key=key)

    def is_completed(self, key: str) -> bool:
        """Completed per state AND every recorded output still has its recorded content."""
        rec = self._records.get(key)
        if rec is None or rec.status != "completed":
            return False
        return all(sha256_file(self.task_dir / rel) == digest for rel, digest in rec.outputs.items())

    def _exhausted(self, key: str) -> bool:
        """Out of attempts: failed, or interrupted in flight (``running`` from a dead process), max_retries times."""
        rec = self._records.get(key)
        return rec is not None and rec.status in ("failed", "running") and rec.attempts >= self.max_retries

    def pending(self, keys: Iterable[str]) -> list[str]:
        """Keys still to process: not verifiably completed and not out of attempts."""
        return [k for k in keys if not self.is_completed(k) and not self._exhausted(k)]

    def exhausted(self, keys: Iterable[str]) -> list[str]:
        return [k for k in keys if self._exhausted(k)]

    def start(self, key: str) -> ItemRecord:
        rec = self._started(key)
        self._write(rec)
        return rec

    def _started(self, key: str) -> ItemRecord:
        rec = self.record(key).model_copy()
        rec.status = "running"
        rec.attempts += 1
        rec.started_at = datetime.now(UTC)
        rec.error = None
        return rec

    def complete(self, key: str, outputs: Iterable[Path] | Mapping[Path, str] = (), data: dict[str, Any] | None = None,
                 *, then_start: str | None = None) -> None:
        """Record ``key`` as completed with the SHA-256 of each output.

        ``outputs`` maps each path to the SHA-256 of the bytes just written to it (hashed in memory, not
        read back), or lists paths to hash from disk. ``then_start`` also records that item as started
        (one attempt) in the same file write: for items processed one after another.
        """
        rec = self.record(key).model_copy()
        rec.status = "completed"
        rec.completed_at = datetime.now(UTC)
        rec.error = None
        if isinstance(outputs, Mapping):
            rec.outputs = {p.relative_to(self.task_dir).as_posix(): digest for p, digest in outputs.items()}
        else:
            rec.outputs = {p.relative_to(self.task_dir).as_posix(): sha256_file(p) or "" for p in outputs}
        rec.data = data or {}
        following = self._started(then_start) if then_start is not None else None
        self._write(rec, following)

    def complete_many(self, entries: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """``start`` + ``complete`` for several output-less items in ONE atomic file write.

        For steps with thousands of tiny items (SQL verdicts), where one file per item costs more
        than the work itself. A later per-item write of the same key takes precedence on load.
        """
        now = datetime.now(UTC)
        raw = [{"key": key, "status": "completed", "started_at": now, "completed_at": now, "outputs": {}, "data": data,
                "attempts": (prev.attempts if (prev := self._records.get(key)) else 0) + 1} for key, data in entries]
        if not raw:
            return
        batch = _BATCH.validate_python(raw)  # one call into pydantic-core for the whole batch: 3x faster
        for rec in batch:
            self._records[rec.key] = rec
        name = f"{time.time_ns()}_{os.getpid()}{BATCH_SUFFIX}"
        atomic_write_bytes(self.items_dir / name, _BATCH.dump_json(batch), durable=False)

    def fail(self, key: str, error: str) -> ItemRecord:
        rec = self.record(key).model_copy()
        rec.status = "failed"
        rec.completed_at = datetime.now(UTC)
        rec.error = error[:2000]
        self._write(rec)
        return rec

    def completed_count(self, keys: Iterable[str]) -> int:
        return sum(1 for k in keys if self._records.get(k) is not None and self._records[k].status == "completed")

    def records(self) -> dict[str, ItemRecord]:
        return dict(self._records)

    # -- files -------------------------------------------------------------------------------

    def _item_path(self, key: str) -> Path:
        return self.items_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"

    def _write(self, rec: ItemRecord, following: ItemRecord | None = None) -> None:
        """The item's own file; ``following`` (the next item's start) rides along under ``"next"``."""
        self._records[rec.key] = rec
        text = rec.model_dump_json()
        if following is not None:
            self._records[following.key] = following
            text = text[:-1] + ',"next":' + following.model_dump_json() + "}"  # one more key of the same object
        atomic_write_text(self._item_path(rec.key), text, durable=False)

    def _read_info(self) -> ScopeInfo | None:
        try:
            return ScopeInfo.model_validate_json((self.root / "scope.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _load_records(self) -> dict[str, ItemRecord]:
        records: dict[str, ItemRecord] = {}
        if not self.items_dir.is_dir():
            return records
        for entry in os.scandir(self.items_dir):
            if entry.name.endswith(BATCH_SUFFIX):
                try:
                    batch = _BATCH.validate_json(Path(entry.path).read_bytes())
                except (OSError, ValueError):
                    continue  # unreadable batch: its items are simply redone
                for rec in batch:
                    _keep_newer(records, rec)
                continue
            if not entry.name.endswith(".json"):
                continue  # leftover temp file of an interrupted write
            try:
                doc = json.loads(Path(entry.path).read_bytes())
                following = doc.pop("next", None)
                _keep_newer(records, ItemRecord.model_validate(doc))
                if following is not None:
                    _keep_newer(records, ItemRecord.model_validate(following))
            except (OSError, ValueError, AttributeError):
                continue  # unreadable record: the item is simply redone
        for key, rec in records.items():
            if rec.status == "running" and rec.error is None:  # in flight when its process died
                records[key] = rec.model_copy(update={"error": INTERRUPTED})
        return records


def _keep_newer(records: dict[str, ItemRecord], rec: ItemRecord) -> None:
    """A key may be in several files (its own, a batch, announced in the previous item's): the later write
    wins; at the same instant (or a clock stepped back) an outcome beats the start it ends."""
    old = records.get(rec.key)
    if old is None or (_last_change(rec), rec.status != "running") >= (_last_change(old), old.status != "running"):
        records[rec.key] = rec


def _last_change(rec: ItemRecord) -> datetime:
    stamps = [s for s in (rec.started_at, rec.completed_at) if s is not None]
    return max(stamps) if stamps else datetime.min.replace(tzinfo=UTC)
