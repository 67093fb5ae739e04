"""Write-ahead journal for file moves, so an interrupted backup or restore is finished next time.

A batch of moves is written to ``<task dir>/.state/<name>.journal.json`` before the first file moves;
each move is idempotent (already-moved files are recognised); the journal is removed once the batch
is done. ``recover`` replays any journal left by a killed process.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_pipeline.errors import PipelineError
from data_pipeline.files.descriptors import DIR_FLAGS, read_file_at
from data_pipeline.files.task_dir import STATE_DIR, atomic_write_bytes, atomic_write_text, state_dir


@dataclass
class MoveOutcome:
    moved: list[str] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)


def idempotent_move(src: Path, dst: Path) -> str:
    """Move ``src`` to ``dst`` without following links; 'moved', 'done' (happened before) or raise."""
    src_exists = os.path.lexists(src)
    dst_exists = os.path.lexists(dst)
    if not src_exists and dst_exists:
        return "done"
    if not src_exists:
        raise FileNotFoundError(f"{src.name}: source is gone and the destination does not exist")
    if dst_exists:
        raise FileExistsError(f"{dst.name}: destination already exists")
    if os.path.isdir(src) and not os.path.islink(src):
        raise IsADirectoryError(f"{src.name}: a folder now; only files move")  # swapped since it was listed
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.rename(src, dst)  # same filesystem: atomic, never copies, never follows a link
    return "moved"


def idempotent_copy(src: Path, dst: Path) -> str:
    """Copy ``src`` over ``dst`` atomically; 'done' when ``dst`` already has the same bytes.

    ``src`` and its folder are opened with ``O_NOFOLLOW``: a link swapped in for either is refused.
    """
    try:
        folder = os.open(src.parent, DIR_FLAGS)
    except OSError:
        raise FileNotFoundError(f"{src.name}: not a regular file") from None
    try:
        data = read_file_at(folder, src.name)
    except PipelineError:
        raise FileNotFoundError(f"{src.name}: not a regular file") from None
    finally:
        os.close(folder)
    return "moved" if atomic_write_bytes(dst, data) else "done"


class MoveJournal:
    def __init__(self, task_dir: Path, name: str) -> None:
        self.task_dir = task_dir
        self.path = task_dir / STATE_DIR / f"{name}.journal.json"

    def pending(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None

    def write(self, batch: dict[str, Any]) -> None:
        state_dir(self.task_dir)
        atomic_write_text(self.path, json.dumps(batch, ensure_ascii=False, indent=1))

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.path.parent.rmdir()  # only succeeds when no other state is kept

    def run(self, batch: dict[str, Any], on_done: Callable[[dict[str, Any], MoveOutcome], None]) -> MoveOutcome:
        """Journal ``batch`` (moves: [[src_rel, dst_rel], ...], op move|copy), perform it, call ``on_done``."""
        self.write(batch)
        outcome = MoveOutcome()
        operation = idempotent_copy if batch.get("op") == "copy" else idempotent_move
        for src_rel, dst_rel in batch["moves"]:
            try:
                state = operation(self.task_dir / src_rel, self.task_dir / dst_rel)
            except OSError as exc:
                outcome.failed.append({"file": src_rel, "error": f"{type(exc).__name__}: {exc.strerror or exc}"})
                continue
            (outcome.moved if state == "moved" else outcome.already_done).append(src_rel)
        on_done(batch, outcome)
        self.clear()
        return outcome
