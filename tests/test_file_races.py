"""Races on task files and ids: a task directory swapped for a symlink while downloading, uploads racing a
deletion, ids after records are deleted, and ids written with non-ASCII digits.

The API app is built in-process with stand-in auth and launcher (as in tests/api_unit), without Airflow.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from data_pipeline.api.app import create_app
from data_pipeline.errors import Conflict, InvalidInput, InvalidTaskId
from data_pipeline.files.backup import validate_backup_name
from data_pipeline.tasks.ids import validate_task_id
from data_pipeline.tasks.store import TaskStore
from tests.api_unit.conftest import API, FAKE_ACCESS, READER, WRITER, FakeLauncher, envelope, new_task

# Rounds of 200 downloads while the directory is swapped; the closing measurement runs 20 (set the variable).
RACE_ROUNDS = int(os.environ.get("DATA_PIPELINE_TEST_RACE_ROUNDS", "4"))
SENTINEL = b"OUTSIDE-THE-DATA-DIRECTORY"


@pytest.fixture
def store(fresh_db_uri: str) -> Iterator[TaskStore]:
    s = TaskStore(fresh_db_uri, max_pool_size=8)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def client(store: TaskStore, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("DATA_PIPELINE_MAX_CONCURRENT_TASKS", "1000")
    app = create_app(FAKE_ACCESS, FakeLauncher(), store=store, prefix=API)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_a_task_directory_swapped_for_a_symlink_never_serves_an_outside_byte(
        client: TestClient, data_dir: Path, tmp_path: Path) -> None:
    task_id = new_task(client)
    task_dir = data_dir / task_id
    (task_dir / "sub").mkdir(parents=True)
    (task_dir / "result.txt").write_bytes(b"inside")
    (task_dir / "sub" / "deep.txt").write_bytes(b"inside deep")
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "result.txt").write_bytes(SENTINEL)
    (outside / "sub" / "deep.txt").write_bytes(SENTINEL)
    (outside / "table_list.txt").write_bytes(b"outside_the_data_directory\n")
    (outside / "file_bak_20250101_000000").mkdir()
    (outside / "file_bak_20250101_000000" / "backup_info.json").write_text(f'{{"backup_time": "{SENTINEL.decode()}"}}')
    (task_dir / "table_list.txt").write_bytes(b"inside_table\n")
    parked = data_dir / f".parked_{task_id}"
    stop = threading.Event()
    swaps = 0

    def swapper() -> None:
        nonlocal swaps
        while not stop.is_set():
            os.rename(task_dir, parked)
            os.symlink(outside, task_dir)
            time.sleep(0.0005)
            os.unlink(task_dir)
            os.rename(parked, task_dir)
            swaps += 1
            time.sleep(0.0005)

    statuses: Counter[int] = Counter()
    leaked = 0
    routes = [f"{API}/tasks/{task_id}/files/result.txt", f"{API}/tasks/{task_id}/files/download/result.txt",
              f"{API}/tasks/{task_id}/files/sub/deep.txt", f"{API}/tasks/{task_id}/files",
              f"{API}/tasks/{task_id}/table-list-info", f"{API}/tasks/{task_id}/backups"]
    thread = threading.Thread(target=swapper, daemon=True)
    thread.start()
    try:
        for _round in range(RACE_ROUNDS):
            for i in range(200):
                response = client.get(routes[i % len(routes)], headers=READER)
                statuses[response.status_code] += 1
                if SENTINEL in response.content or b"outside_the_data_directory" in response.content:
                    leaked += 1
    finally:
        stop.set()
        thread.join(timeout=10)
    print(f"symlink swap race: {sum(statuses.values())} requests, {swaps} swaps, statuses {dict(statuses)}, "
          f"{leaked} answers with outside bytes")
    assert not thread.is_alive()
    assert leaked == 0
    assert statuses[500] == 0
    assert set(statuses) <= {200, 400, 404}, statuses
    assert statuses[200] > 0 and swaps > 0


def test_a_backup_folder_swapped_for_a_symlink_is_never_restored_from(
        client: TestClient, data_dir: Path, tmp_path: Path) -> None:
    task_id = new_task(client)
    task_dir = data_dir / task_id
    backup = task_dir / "file_bak_20250101_000000"
    backup.mkdir(parents=True)
    (backup / "a.ddl").write_bytes(b"inside")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.ddl").write_bytes(SENTINEL)
    parked = task_dir / ".parked"
    stop = threading.Event()

    def swapper() -> None:
        while not stop.is_set():
            try:
                os.rename(backup, parked)
            except FileNotFoundError:
                return  # a restore's safety backup moved the folder away: nothing left to swap
            os.symlink(outside, backup)
            time.sleep(0.0005)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(backup)  # the restore's safety backup may have moved the link away (moved, not followed)
            os.rename(parked, backup)
            time.sleep(0.0005)

    statuses: Counter[int] = Counter()
    thread = threading.Thread(target=swapper, daemon=True)
    thread.start()
    try:
        for _ in range(60):
            response = client.post(f"{API}/tasks/{task_id}/backups/{backup.name}/restore", headers=WRITER)
            statuses[response.status_code] += 1
    finally:
        stop.set()
        thread.join(timeout=10)
    print(f"backup folder swap race: statuses {dict(statuses)}")
    restored = [p for p in task_dir.rglob("*.ddl") if p.is_file() and not p.is_symlink()]
    assert not thread.is_alive()
    assert restored and all(p.read_bytes() == b"inside" for p in restored)
    assert statuses[500] == 0 and set(statuses) <= {200, 404}, statuses


def test_upload_racing_a_delete_never_fails_and_row_and_disk_agree(
        client: TestClient, store: TaskStore, data_dir: Path) -> None:
    outcomes: Counter[int] = Counter()
    for round_no in range(8):
        task_id = new_task(client)
        (data_dir / task_id).mkdir(exist_ok=True)
        records_too = round_no % 2 == 1
        start = threading.Barrier(2)

        def uploads(task_id: str = task_id, start: threading.Barrier = start) -> None:
            start.wait()
            for i in range(15):
                response = client.post(f"{API}/tasks/{task_id}/files", headers=WRITER,
                                       files={"file": (f"f{i}.txt", b"data", "text/plain")},
                                       data={"overwrite_mode": "replace"})
                outcomes[response.status_code] += 1

        thread = threading.Thread(target=uploads)
        thread.start()
        start.wait()
        time.sleep(0.002 * round_no)
        deleted = client.request("DELETE", f"{API}/tasks/{task_id}", headers=WRITER,
                                 json={"confirm": True, "delete_database_records": records_too})
        thread.join(timeout=60)
        assert deleted.status_code == 200, deleted.text
        assert not (data_dir / task_id).exists()
        row = store.get_task(task_id)
        if records_too:
            assert row is None
        else:
            assert row is not None and row.directory_exists is False
        late = client.post(f"{API}/tasks/{task_id}/files", headers=WRITER,
                           files={"file": ("late.txt", b"data", "text/plain")})
        body = envelope(late, 404 if records_too else 409)
        if not records_too:
            assert body["error_code"] == "DIRECTORY_DELETED" and "directory deleted" in body["message"]
            tables = client.post(f"{API}/tasks/{task_id}/table-list", headers=WRITER, json={"tables": ["a"]})
            envelope(tables, 409)
        assert not (data_dir / task_id).exists()
    print(f"upload racing delete: statuses {dict(outcomes)}")
    assert outcomes[500] == 0
    assert set(outcomes) <= {200, 404, 409}, outcomes


def test_ids_are_never_issued_twice_even_after_records_are_deleted(store: TaskStore) -> None:
    now = datetime(2026, 3, 1, 12, 0, 0)
    seen: list[str] = []
    for _ in range(50):
        task = store.create_task(parameters={}, now=now)
        seen.append(task.id)
        assert store.delete_task_records(task.id)
    assert len(set(seen)) == 50, [i for i, n in Counter(seen).items() if n > 1]
    with pytest.raises(Conflict, match="deleted task"):
        store.create_task(parameters={}, task_id=seen[0])  # a deleted task's id, asked for explicitly


FOREIGN_DIGITS = [
    "task_\uff12\uff10\uff12\uff15\uff10\uff11\uff10\uff11_000000",  # fullwidth
    "task_20250101_\u0660\u0660\u0660\u0660\u0660\u0660",  # Arabic-Indic
    "task_\u06f2\u06f0\u06f2\u06f5\u06f0\u06f1\u06f0\u06f1_000000",  # extended Arabic-Indic
    "task_20250101_00000\u0967",  # Devanagari
]


@pytest.mark.parametrize("task_id", FOREIGN_DIGITS)
def test_ids_with_non_ascii_digits_are_refused(client: TestClient, task_id: str) -> None:
    with pytest.raises(InvalidTaskId):
        validate_task_id(task_id)
    for path in (f"/tasks/{task_id}", f"/tasks/{task_id}/files"):
        response = client.get(API + path, headers=READER)
        assert response.status_code == 400, (path, response.status_code, response.text[:200])
    with pytest.raises(InvalidInput):
        validate_backup_name("file_bak_20250101_\u0660\u0660\u0660\u0660\u0660\u0660")
