"""The seven backup scenarios of the design, restore, and an interrupted backup finished later."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from data_pipeline.errors import InvalidInput, NotFound
from data_pipeline.files.backup import backup_existing_files, list_backups, recover_interrupted, restore_backup
from data_pipeline.files.journal import MoveJournal

NOW = datetime(2025, 1, 21, 9, 44, 0)


def visible(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if not p.name.startswith("."))


@pytest.fixture
def task(tmp_path: Path) -> Path:
    path = tmp_path / "task_20250721_083557"
    path.mkdir()
    return path


def test_empty_directory_makes_no_backup(task: Path) -> None:
    result = backup_existing_files(task, now=NOW)
    assert not result.backed_up and visible(task) == []


def test_table_list_only_makes_no_backup(task: Path) -> None:
    (task / "table_list.txt").write_text("a\n")
    result = backup_existing_files(task, now=NOW)
    assert not result.backed_up
    assert visible(task) == ["table_list.txt"]


def test_files_move_with_their_names(task: Path) -> None:
    (task / "table_list.txt").write_text("a\n")
    (task / "old_file.ddl").write_text("create table a();")
    (task / "old_data.json").write_text("[]")
    (task / "data_pipeline.log").write_text("log")
    result = backup_existing_files(task, task_id=task.name, now=NOW)
    bak = task / "file_bak_20250121_094400"
    assert result.backed_up and result.backup_directory == bak.name
    assert sorted(p.name for p in bak.iterdir()) == ["backup_info.json", "data_pipeline.log", "old_data.json",
                                                     "old_file.ddl"]
    assert (bak / "old_file.ddl").read_text() == "create table a();"
    info = json.loads((bak / "backup_info.json").read_text())
    assert info == {"backup_time": "2025-01-21T09:44:00", "backup_directory": bak.name,
                    "moved_files": ["data_pipeline.log", "old_data.json", "old_file.ddl"], "failed_files": [],
                    "task_id": task.name}
    assert visible(task) == [bak.name, "table_list.txt"]


def test_mixed_content_only_top_level_files_move(task: Path) -> None:
    (task / "table_list.txt").write_text("a\n")
    (task / "a.ddl").write_text("x")
    (task / "some_subdir").mkdir()
    (task / "some_subdir" / "file.txt").write_text("stay")
    (task / "vector_bak").mkdir()
    (task / ".state").mkdir(exist_ok=True)
    (task / "table_list.txt.bak").write_text("not the table list: exact name match only")
    result = backup_existing_files(task, now=NOW)
    assert result.moved_files == ["a.ddl", "table_list.txt.bak"]
    assert (task / "some_subdir" / "file.txt").read_text() == "stay"
    assert (task / "vector_bak").is_dir() and (task / "table_list.txt").exists()


def test_name_clash_gets_numbered_suffix(task: Path) -> None:
    (task / "file_bak_20250121_094400").mkdir()
    (task / "file_bak_20250121_094400_1").mkdir()
    (task / "a.ddl").write_text("x")
    result = backup_existing_files(task, now=NOW)
    assert result.backup_directory == "file_bak_20250121_094400_2"
    assert (task / "file_bak_20250121_094400_2" / "a.ddl").exists()
    assert list((task / "file_bak_20250121_094400").iterdir()) == []


@pytest.fixture
def traversable_tmp() -> Iterator[Path]:
    """A temp folder other users can enter (pytest's own are private to their owner)."""
    base = Path(tempfile.mkdtemp(prefix="dp_perm_"))
    os.chmod(base, 0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create a file another user cannot move")
def test_permission_error_is_recorded_and_the_rest_still_moves(traversable_tmp: Path) -> None:
    """Run the backup as an unprivileged user in a sticky directory holding one file owned by root."""
    task = traversable_tmp / "task_20250721_083557"
    task.mkdir()
    os.chmod(task, 0o1777)  # sticky: users may only move their own files
    for name in ("mine_a.ddl", "mine_b.md"):
        (task / name).write_text(name)
        os.chown(task / name, 65534, 65534)
    (task / "roots.json").write_text("{}")  # owned by root: nobody cannot move it
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop privileges, back up, report through the pipe
        try:
            os.close(read_end)
            os.setgid(65534)
            os.setuid(65534)
            r = backup_existing_files(task, now=NOW)
            os.write(write_end, json.dumps(r.to_dict()).encode())
        except BaseException as exc:
            os.write(write_end, json.dumps({"child_error": repr(exc)}).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        payload = pipe.read()
    os.waitpid(pid, 0)
    result = json.loads(payload)
    assert "child_error" not in result, result
    assert result["moved_files"] == ["mine_a.ddl", "mine_b.md"]
    assert [f["file"] for f in result["failed_files"]] == ["roots.json"]
    assert "PermissionError" in result["failed_files"][0]["error"]
    assert (task / "roots.json").exists()
    info = json.loads((task / result["backup_directory"] / "backup_info.json").read_text())
    assert info["failed_files"] == result["failed_files"]


def test_repeated_runs_create_separate_backups(task: Path) -> None:
    names = []
    for second in range(3):
        (task / "a.ddl").write_text(f"run {second}")
        names.append(backup_existing_files(task, now=NOW.replace(second=second)).backup_directory)
    assert names == ["file_bak_20250121_094400", "file_bak_20250121_094401", "file_bak_20250121_094402"]
    assert [(task / n / "a.ddl").read_text() for n in names] == ["run 0", "run 1", "run 2"]
    assert [b["backup_directory"] for b in list_backups(task)] == list(reversed(names))


def test_interrupted_backup_is_finished_by_the_next_call(task: Path) -> None:
    for name in ("a.ddl", "b.md", "c.json"):
        (task / name).write_text(name)
    bak = task / "file_bak_20250121_094400"
    bak.mkdir()
    # Simulate a process killed after journaling and moving one of three files.
    MoveJournal(task, "backup").write({"backup_time": NOW.isoformat(), "backup_directory": bak.name,
                                       "task_id": None, "moves": [[n, f"{bak.name}/{n}"] for n in
                                                                  ("a.ddl", "b.md", "c.json")]})
    os.rename(task / "a.ddl", bak / "a.ddl")
    summary = recover_interrupted(task)
    assert summary is not None and summary["moved_files"] == ["b.md", "c.json"]
    assert summary["already_moved"] == ["a.ddl"]
    assert sorted(p.name for p in bak.iterdir()) == ["a.ddl", "b.md", "backup_info.json", "c.json"]
    assert recover_interrupted(task) is None


def test_restore_copies_back_and_backs_up_current_files(task: Path) -> None:
    (task / "table_list.txt").write_text("a\n")
    (task / "a.ddl").write_text("old")
    first = backup_existing_files(task, now=NOW).backup_directory
    (task / "a.ddl").write_text("new")
    result = restore_backup(task, first, now=NOW.replace(minute=50))
    assert result["restored_files"] == ["a.ddl"]
    assert (task / "a.ddl").read_text() == "old"
    assert (task / "file_bak_20250121_095000" / "a.ddl").read_text() == "new"
    assert (task / first / "a.ddl").read_text() == "old"  # the backup itself is intact
    with pytest.raises(InvalidInput):
        restore_backup(task, "../../etc")
    with pytest.raises(NotFound):
        restore_backup(task, "file_bak_20000101_000000")


def test_a_file_moved_away_between_listing_and_backup_is_skipped(task: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A concurrent restore or upload can move a listed entry before it is examined (it gave a 500)."""
    (task / "keep.ddl").write_text("kept")
    (task / "gone.ddl").write_text("moved away")
    real_scandir = os.scandir

    def listing_then_concurrent_move(path: object) -> list[os.DirEntry[str]]:
        entries = list(real_scandir(path))  # type: ignore[arg-type]
        os.rename(task / "gone.ddl", task.parent / "elsewhere.ddl")  # the other actor acts after the listing
        return entries

    monkeypatch.setattr(os, "scandir", listing_then_concurrent_move)
    result = backup_existing_files(task)
    monkeypatch.undo()
    assert result.moved_files == ["keep.ddl"]
    assert (task / result.backup_directory / "keep.ddl").read_text() == "kept"
    assert (task.parent / "elsewhere.ddl").read_text() == "moved away"
