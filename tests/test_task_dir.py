"""Path safety: hostile ids and paths are rejected and nothing outside the data directory is touched."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from data_pipeline.errors import InvalidTaskId, NotFound, UnsafePath
from data_pipeline.files import task_dir

TASK = "task_20250721_083557"

HOSTILE_TASK_IDS = [
    "", "..", "../task_20250721_083557", "task_20250721_083557/..", "/etc/passwd", "task_2025072_083557",
    "task_20250721_083557\x00", "task_20250721_083557\n", "TASK_20250721_083557", "task_20250721_083557_ABC",
    "task_20250721_083557_toolongsuffix", "%2e%2e", "task_20250721_083557%2f..", "C:\\Windows",
    "task_20250721_083557\\..", "job_20250721_083557", "task_20250721_083557 ", " task_20250721_083557",
    "task_20250721_083557/../../x", "t" * 5000,
]

HOSTILE_PATHS = [
    "", ".", "..", "../outside.txt", "a/../../outside.txt", "sub/../../../etc/passwd", "/etc/passwd",
    "//server/share", "C:\\Windows\\win.ini", "c:/windows/win.ini", "..\\outside.txt", "sub\\..\\..\\x",
    "%2e%2e/outside.txt", "%2E%2E%2Foutside.txt", "..%2fsecret", "%252e%252e/x", "a\x00.txt", "a\n.txt",
    "x" * 300, "a/" * 600 + "b", ".state/ddl.json", ".hidden", "sub/./file.txt", "sub//file.txt",
    "\uff0e\uff0e/outside.txt", "escape_link/secret.txt", "escape_link", "dir_link/secret.txt",
]


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("DATA_PIPELINE_DATA_DIR", str(root))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret")
    (tmp_path / "outside.txt").write_text("outside")
    task = root / TASK
    task.mkdir()
    (task / "table_list.txt").write_text("a\n")
    (task / "sub").mkdir()
    (task / "sub" / "file.txt").write_text("inside")
    (task / ".state").mkdir()
    (task / ".state" / "ddl.json").write_text("{}")
    os.symlink(outside / "secret.txt", task / "escape_link")
    os.symlink(outside, task / "dir_link")
    return {"root": root, "task": task, "outside": outside, "tmp": tmp_path}


def fingerprint(path: Path) -> dict[str, str]:
    out = {}
    for p in sorted(path.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest() + str(p.stat().st_mtime_ns)
    return out


@pytest.mark.parametrize("bad", HOSTILE_TASK_IDS)
def test_hostile_task_ids_rejected(layout: dict[str, Path], bad: str) -> None:
    with pytest.raises(InvalidTaskId) as err:
        task_dir.task_path(bad)
    assert "task id" in str(err.value)


@pytest.mark.parametrize("bad", HOSTILE_PATHS)
def test_hostile_paths_rejected_for_read_and_write(layout: dict[str, Path], bad: str) -> None:
    before = fingerprint(layout["outside"]) | fingerprint(layout["tmp"] / "outside.txt").copy()
    for must_exist in (True, False):
        with pytest.raises((UnsafePath, NotFound)) as err:
            task_dir.resolve_file(TASK, bad, must_exist=must_exist)
        assert str(err.value)  # a clear message, never empty
    assert fingerprint(layout["outside"]) | fingerprint(layout["tmp"] / "outside.txt") == before


def test_symlink_escape_is_reported_as_unsafe(layout: dict[str, Path]) -> None:
    with pytest.raises(UnsafePath, match="symbolic link"):
        task_dir.resolve_file(TASK, "escape_link")
    with pytest.raises(UnsafePath, match="symbolic link"):
        task_dir.resolve_file(TASK, "dir_link/secret.txt", must_exist=False)


def test_task_directory_that_is_a_symlink_is_refused(layout: dict[str, Path]) -> None:
    os.symlink(layout["outside"], layout["root"] / "task_20250101_000000")
    with pytest.raises(UnsafePath):
        task_dir.task_path("task_20250101_000000")


def test_valid_paths_resolve_inside(layout: dict[str, Path]) -> None:
    assert task_dir.resolve_file(TASK, "sub/file.txt") == layout["task"] / "sub" / "file.txt"
    assert task_dir.resolve_file(TASK, "表.ddl", must_exist=False) == layout["task"] / "表.ddl"
    with pytest.raises(NotFound):
        task_dir.resolve_file(TASK, "missing.txt")


def test_listing_skips_hidden_state_and_symlinks(layout: dict[str, Path]) -> None:
    files = task_dir.list_files(TASK)
    assert [f.path for f in files] == ["sub/file.txt", "table_list.txt"]
    assert files[1].file_type == "txt" and files[1].size == 2


def test_stats_do_not_follow_symlinks(layout: dict[str, Path]) -> None:
    stats = task_dir.directory_stats(layout["task"])
    # table_list, sub/file.txt, .state/ddl.json and two links (counted, not followed)
    assert stats.file_count == 5
    assert stats.total_bytes < 1000


def test_atomic_write_replaces_a_symlink_instead_of_writing_through_it(layout: dict[str, Path]) -> None:
    link = layout["task"] / "escape_link"
    assert task_dir.atomic_write_text(link, "new") is True
    assert (layout["outside"] / "secret.txt").read_text() == "top secret"
    assert not link.is_symlink() and link.read_text() == "new"
    assert task_dir.atomic_write_text(link, "new") is False  # same content: no write


def test_human_size() -> None:
    assert task_dir.human_size(10) == "10 B"
    assert task_dir.human_size(2_621_440) == "2.5 MB"
