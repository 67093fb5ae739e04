"""Backup of a task directory's files before a complete run, listing and restore.

Top level only, files only, ``table_list.txt`` stays; everything else moves under its own name into
``file_bak_YYYYMMDD_HHMMSS[_N]/`` with a ``backup_info.json``. A file that cannot move is recorded
and the rest still move. Moves are journaled, so a killed backup is completed by the next call.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from data_pipeline.errors import InvalidInput, NotFound, PipelineError, UnsafePath
from data_pipeline.files.descriptors import DIR_FLAGS, open_dir_at, read_file_at, stats_at, write_file_at
from data_pipeline.files.journal import MoveJournal, MoveOutcome
from data_pipeline.files.task_dir import TABLE_LIST_FILE, atomic_write_text

BACKUP_PREFIX = "file_bak_"
BACKUP_INFO = "backup_info.json"
_BACKUP_NAME = re.compile(r"^file_bak_[0-9]{8}_[0-9]{6}(_[0-9]{1,4})?$")


@dataclass
class BackupResult:
    backed_up: bool
    backup_directory: str | None = None
    backup_time: str | None = None
    moved_files: list[str] = field(default_factory=list)
    failed_files: list[dict[str, str]] = field(default_factory=list)
    task_id: str | None = None
    recovered: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _files_to_move(task_dir: Path) -> list[str]:
    names = []
    for entry in sorted(os.scandir(task_dir), key=lambda e: e.name):
        if entry.name == TABLE_LIST_FILE or entry.name.startswith("."):
            continue
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
        except FileNotFoundError:
            continue  # moved away since the listing (a concurrent restore or upload): nothing to back up
        if stat.S_ISDIR(mode):
            continue  # subdirectories (earlier backups, vector_bak, ...) are never touched
        names.append(entry.name)
    return names


def _new_backup_dir(task_dir: Path, now: datetime) -> Path:
    base = f"{BACKUP_PREFIX}{now.strftime('%Y%m%d_%H%M%S')}"
    for n in range(10_000):
        candidate = task_dir / (base if n == 0 else f"{base}_{n}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError(f"no free backup directory name for {base}")


def _write_info(task_dir: Path, batch: dict[str, Any], outcome: MoveOutcome) -> None:
    info = {
        "backup_time": batch["backup_time"],
        "backup_directory": batch["backup_directory"],
        "moved_files": sorted(outcome.moved + outcome.already_done),
        "failed_files": outcome.failed,
        "task_id": batch.get("task_id"),
    }
    atomic_write_text(task_dir / batch["backup_directory"] / BACKUP_INFO,
                      json.dumps(info, ensure_ascii=False, indent=2))


def recover_interrupted(task_dir: Path, journal_name: str = "backup") -> dict[str, Any] | None:
    """Finish a backup (or restore) that a killed process left half done; return its summary."""
    journal = MoveJournal(task_dir, journal_name)
    batch = journal.pending()
    if batch is None:
        return None
    outcome = journal.run(batch, lambda b, o: _write_info(task_dir, b, o) if journal_name == "backup" else None)
    return {"backup_directory": batch.get("backup_directory"), "moved_files": outcome.moved,
            "already_moved": outcome.already_done, "failed_files": outcome.failed}


def backup_existing_files(task_dir: Path, *, task_id: str | None = None, now: datetime | None = None) -> BackupResult:
    """Move the task directory's top-level files (except the table list) into a new backup folder."""
    if not task_dir.is_dir():
        raise NotFound(f"task directory does not exist: {task_dir.name}")
    if task_dir.is_symlink():
        raise UnsafePath(f"task directory {task_dir.name} is a symbolic link; refusing to use it")
    return _backup_existing(task_dir, task_id=task_id, now=now)


def _backup_existing(task_dir: Path, *, task_id: str | None, now: datetime | None) -> BackupResult:
    recovered = recover_interrupted(task_dir)
    names = _files_to_move(task_dir)
    if not names:
        return BackupResult(backed_up=False, task_id=task_id, recovered=recovered)
    now = now or datetime.now()
    backup_dir = _new_backup_dir(task_dir, now)
    batch = {
        "backup_time": now.isoformat(),
        "backup_directory": backup_dir.name,
        "task_id": task_id,
        "moves": [[name, f"{backup_dir.name}/{name}"] for name in names],
    }
    outcome = MoveJournal(task_dir, "backup").run(batch, lambda b, o: _write_info(task_dir, b, o))
    return BackupResult(
        backed_up=True,
        backup_directory=backup_dir.name,
        backup_time=batch["backup_time"],
        moved_files=sorted(outcome.moved + outcome.already_done),
        failed_files=outcome.failed,
        task_id=task_id,
        recovered=recovered,
    )


def backup_file(dir_fd: int, name: str, *, task_id: str | None = None, reason: str = "upload",
                now: datetime | None = None) -> str:
    """Move one top-level file of the task directory held by ``dir_fd`` into a new backup folder.

    Returns the folder name. The folder is made and entered by descriptor, so the file cannot be
    moved through a link swapped in for it.
    """
    now = now or datetime.now()
    base = f"{BACKUP_PREFIX}{now.strftime('%Y%m%d_%H%M%S')}"
    for n in range(10_000):
        folder = base if n == 0 else f"{base}_{n}"
        try:
            os.mkdir(folder, dir_fd=dir_fd)
            break
        except FileExistsError:
            continue
    else:
        raise RuntimeError(f"no free backup directory name for {base}")
    folder_fd = open_dir_at(dir_fd, folder, missing_message=f"backup folder {folder} vanished",
                            link_message=f"backup folder {folder} was replaced by a symbolic link")
    try:
        os.rename(name, name, src_dir_fd=dir_fd, dst_dir_fd=folder_fd)
        info = {"backup_time": now.isoformat(), "backup_directory": folder, "moved_files": [name],
                "failed_files": [], "task_id": task_id, "reason": reason}
        write_file_at(folder_fd, BACKUP_INFO, json.dumps(info, ensure_ascii=False, indent=2).encode())
    finally:
        os.close(folder_fd)
    return folder


def list_backups(task_dir: Path | str) -> list[dict[str, Any]]:
    """Every ``file_bak_*`` folder with its info, newest first; each folder is read by descriptor."""
    backups: list[dict[str, Any]] = []
    try:
        dir_fd = os.open(task_dir, DIR_FLAGS & ~os.O_NOFOLLOW)  # callers pass a checked or pinned folder
    except OSError:
        return backups
    try:
        for entry in os.scandir(dir_fd):
            if not _BACKUP_NAME.match(entry.name) or not entry.is_dir(follow_symlinks=False):
                continue
            try:
                folder_fd = os.open(entry.name, DIR_FLAGS, dir_fd=dir_fd)
            except OSError:
                continue  # gone, or swapped for a link meanwhile
            try:
                info: dict[str, Any] = {}
                with contextlib.suppress(OSError, PipelineError, ValueError):
                    info = json.loads(read_file_at(folder_fd, BACKUP_INFO, 1 << 20).decode("utf-8"))
                if not isinstance(info, dict):
                    info = {}
                stats = stats_at(folder_fd)
            finally:
                os.close(folder_fd)
            backups.append({
                "backup_directory": entry.name,
                "backup_time": info.get("backup_time"),
                "moved_files": info.get("moved_files", []),
                "failed_files": info.get("failed_files", []),
                "file_count": stats.file_count,
                "total_bytes": stats.total_bytes,
                "total_size": stats.human_size,
            })
    finally:
        os.close(dir_fd)
    backups.sort(key=lambda b: b["backup_directory"], reverse=True)
    return backups


def validate_backup_name(name: str) -> str:
    if not isinstance(name, str) or not _BACKUP_NAME.fullmatch(name):
        raise InvalidInput(f"invalid backup name {name!r}: expected file_bak_YYYYMMDD_HHMMSS[_N]")
    return name


def restore_backup(task_dir: Path, backup_name: str, *, task_id: str | None = None,
                   now: datetime | None = None) -> dict[str, Any]:
    """Copy a backup's files back to the top level; current files are first backed up the same way.

    Copies, not moves: the backup stays intact, so restoring is repeatable and nothing is lost.
    """
    if task_dir.is_symlink():
        raise UnsafePath(f"task directory {task_dir.name} is a symbolic link; refusing to use it")
    return restore_pinned(task_dir, backup_name, task_id=task_id, now=now)


def restore_pinned(task_dir: Path, backup_name: str, *, task_id: str | None = None,
                   now: datetime | None = None) -> dict[str, Any]:
    """``restore_backup`` for a folder already checked or pinned (``/proc/self/fd/N``)."""
    validate_backup_name(backup_name)
    try:
        dir_fd = os.open(task_dir, DIR_FLAGS & ~os.O_NOFOLLOW)
    except OSError:
        raise NotFound(f"task directory does not exist: {task_id or task_dir.name}") from None
    try:
        source = open_dir_at(dir_fd, backup_name, missing_message=f"backup not found: {backup_name}",
                             link_message=f"backup not found: {backup_name}")
    except UnsafePath:
        raise NotFound(f"backup not found: {backup_name}") from None  # a link is no backup
    finally:
        os.close(dir_fd)
    try:
        names = [e.name for e in sorted(os.scandir(source), key=lambda e: e.name)
                 if e.name != BACKUP_INFO and not e.name.startswith(".") and e.is_file(follow_symlinks=False)]
    finally:
        os.close(source)
    recover_interrupted(task_dir, "restore")
    safety = _backup_existing(task_dir, task_id=task_id, now=now)
    batch = {"backup_directory": backup_name, "op": "copy", "moves": [[f"{backup_name}/{n}", n] for n in names]}
    outcome = MoveJournal(task_dir, "restore").run(batch, lambda b, o: None)
    return {
        "restored_from": backup_name,
        "restored_files": sorted(Path(p).name for p in outcome.moved + outcome.already_done),
        "failed_files": outcome.failed,
        "current_files_backup": safety.to_dict(),
    }
