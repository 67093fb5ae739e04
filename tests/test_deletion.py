"""Deleting tasks: confirmation, unknown and running tasks, records, batches, and symlink safety."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from data_pipeline.errors import InvalidInput, InvalidTaskId, TaskNotFound, TaskRunning
from data_pipeline.files.deletion import delete_task, delete_tasks
from data_pipeline.tasks.store import TaskStore


@pytest.fixture
def store(fresh_db_uri: str) -> Iterator[TaskStore]:
    s = TaskStore(fresh_db_uri)
    s.migrate()
    yield s
    s.close()


def make_task(store: TaskStore, data_dir: Path, status: str = "completed", files: int = 3) -> str:
    task = store.create_task(parameters={})
    store.update_task(task.id, status=status)
    d = data_dir / task.id
    (d / "sub").mkdir(parents=True)
    for i in range(files):
        (d / f"f{i}.ddl").write_text("x" * 100)
    (d / "sub" / "deep.md").write_text("y" * 50)
    return task.id


def test_confirm_is_required(store: TaskStore, data_dir: Path) -> None:
    task_id = make_task(store, data_dir)
    with pytest.raises(InvalidInput) as err:
        delete_task(store, task_id, confirm=None)
    assert err.value.details["missing_params"] == ["confirm"]
    with pytest.raises(InvalidInput):
        delete_task(store, task_id, confirm="yes")
    assert (data_dir / task_id).is_dir()


def test_unknown_invalid_and_running(store: TaskStore, data_dir: Path) -> None:
    with pytest.raises(TaskNotFound):
        delete_task(store, "task_20990101_000000", confirm=True)
    with pytest.raises(InvalidTaskId):
        delete_task(store, "../etc", confirm=True)
    running = make_task(store, data_dir, status="in_progress")
    with pytest.raises(TaskRunning) as err:
        delete_task(store, running, confirm=True)
    assert err.value.details["current_status"] == "in_progress"
    assert (data_dir / running).is_dir()
    done = make_task(store, data_dir)
    with pytest.raises(TaskRunning):
        delete_task(store, done, confirm=True, active_run=lambda task: True)  # an active DAG run counts
    result = delete_task(store, running, confirm=True, force=True)
    assert result.directory_deleted and not (data_dir / running).exists()


def test_delete_directory_keeps_records(store: TaskStore, data_dir: Path) -> None:
    task_id = make_task(store, data_dir)
    result = delete_task(store, task_id, confirm=True, actor="tester")
    assert result.directory_deleted and result.deleted_files_count == 4 and result.deleted_bytes == 350
    assert result.deleted_size == "350 B" and not result.database_records_deleted
    task = store.require_task(task_id)
    assert task.directory_exists is False and task.updated_at is not None
    logs, _ = store.query_logs(task_id)
    assert "deleted by tester" in logs[-1].message


def test_delete_with_records(store: TaskStore, data_dir: Path) -> None:
    task_id = make_task(store, data_dir)
    store.add_log(task_id, "INFO", "x")
    result = delete_task(store, task_id, confirm=True, delete_database_records=True)
    assert result.database_records_deleted and store.get_task(task_id) is None


def test_symlinks_inside_are_removed_not_followed(store: TaskStore, data_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    task_id = make_task(store, data_dir)
    os.symlink(outside, data_dir / task_id / "link_to_outside")
    os.symlink(outside / "keep.txt", data_dir / task_id / "file_link")
    delete_task(store, task_id, confirm=True)
    assert (outside / "keep.txt").read_text() == "keep"
    assert not (data_dir / task_id).exists()


def test_batch_partial_failure_and_stop_on_error(store: TaskStore, data_dir: Path) -> None:
    a = make_task(store, data_dir)
    running = make_task(store, data_dir, status="in_progress")
    b = make_task(store, data_dir)
    result = delete_tasks(store, [a, running, "task_20990101_000000", b, "bad id"], confirm=True)
    assert [t["task_id"] for t in result.deleted_tasks] == [a, b]
    assert {t["task_id"]: t["error_code"] for t in result.failed_tasks} == {
        running: "TASK_RUNNING", "task_20990101_000000": "TASK_NOT_FOUND", "bad id": "INVALID_TASK_ID"}
    assert result.summary["successfully_deleted"] == 2 and result.summary["failed"] == 3
    assert result.summary["total_size_freed"] == "700 B"
    c = make_task(store, data_dir)
    stopped = delete_tasks(store, [running, c], confirm=True, continue_on_error=False)
    assert stopped.deleted_tasks == [] and (data_dir / c).is_dir()
    with pytest.raises(InvalidInput, match="at most"):
        delete_tasks(store, [f"task_20250101_0000{i:02d}" for i in range(101)], confirm=True)
