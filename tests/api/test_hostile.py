"""Hostile ids, paths and bodies against download, upload, restore and delete on the real api-server.

Nothing outside the data directory may be read, written or removed: a sentinel folder next to it
(and a symlink pointing into it from a task directory) is fingerprinted before and after.
"""

from __future__ import annotations

import hashlib
import http.client
import os
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import API, LiveAirflow, envelope


def fingerprint(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def arena(live: LiveAirflow) -> dict:
    """A task with files, a sentinel folder outside the data dir, and symlinks pointing at it."""
    outside = live.data_dir.parent / "outside_secrets"
    outside.mkdir(exist_ok=True)
    (outside / "secret.txt").write_text("TOP SECRET")
    (outside / "table_list.txt").write_text("stolen\n")
    with live.client("admin") as client:
        task_id = envelope(client.post(f"{API}/tasks", json={"db_conn_id": "highway_demo",
                                                             "business_context": "高速公路服务区",
                                                             "table_list": ["bss_company"]}), 201)["data"]["task_id"]
    task_dir = live.data_dir / task_id
    (task_dir / "sub").mkdir()
    (task_dir / "sub" / "ok.txt").write_text("fine")
    (task_dir / "file_bak_20250101_000000").mkdir()
    (task_dir / "file_bak_20250101_000000" / "a.ddl").write_text("x")
    os.symlink(outside / "secret.txt", task_dir / "leak.txt")
    os.symlink(outside, task_dir / "leakdir")
    os.symlink(outside, task_dir / "file_bak_20250101_000001")
    linked_id = "task_20250101_000002"
    live.store.create_task(parameters={}, task_id=linked_id)
    os.symlink(outside, live.data_dir / linked_id)
    return {"task_id": task_id, "outside": outside, "before": fingerprint(outside), "linked_id": linked_id,
            "parent_listing": sorted(p.name for p in live.data_dir.parent.iterdir())}


def raw_get(live: LiveAirflow, raw_path: str) -> tuple[int, bytes]:
    """GET a path exactly as written (httpx would normalise dot segments)."""
    conn = http.client.HTTPConnection("127.0.0.1", live.airflow.port, timeout=30)
    conn.putrequest("GET", raw_path, skip_accept_encoding=True)
    conn.putheader("Authorization", f"Bearer {live.admin_token}")
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


DOWNLOAD_PATHS = [
    "../../../../etc/passwd", "..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e/%2e%2e/outside_secrets/secret.txt",
    "%252e%252e/secret.txt", "..%5C..%5Csecret.txt", "sub/../../outside_secrets/secret.txt", "%2Fetc%2Fpasswd",
    "leak.txt", "leakdir/secret.txt", "file_bak_20250101_000001/secret.txt", ".state/x.json", "sub%00.txt",
    "a" * 300, "sub/" * 300 + "x", "%EF%BC%8E%EF%BC%8E/secret.txt", "....//....//etc/passwd", "sub/./ok.txt",
    "C:%5Cwindows%5Cwin.ini", "sub//ok.txt", "%c0%ae%c0%ae/secret.txt",
]


@pytest.mark.parametrize("path", DOWNLOAD_PATHS)
def test_download_rejects_hostile_paths(live: LiveAirflow, arena: dict, path: str) -> None:
    base = f"{API}/tasks/{arena['task_id']}/files"
    for route in (f"{base}/{path}", f"{base}/download/{path}"):
        status, body = raw_get(live, route)
        assert status in (400, 404), (route, status, body[:200])
        assert b"TOP SECRET" not in body and b"root:" not in body


HOSTILE_TASK_IDS = ["..", "..%2F..%2Fetc", "%2e%2e", "task_20250101_000000%2F..", "task_20250101_000000%00",
                    "TASK_20250101_000000", "task_2025_1", "task_20250101_000000_UPPER", "x" * 200]


@pytest.mark.parametrize("task_id", HOSTILE_TASK_IDS)
def test_hostile_task_ids_rejected_everywhere(live: LiveAirflow, arena: dict, task_id: str) -> None:
    status, body = raw_get(live, f"{API}/tasks/{task_id}/files")
    assert status in (400, 404), (status, body[:200])


UPLOAD_NAMES = ["../evil.txt", "../../outside_secrets/secret.txt", "/etc/evil", "sub/evil.txt", "..", ".",
                ".hidden", "a\\..\\evil.txt", "evil\x00.txt", "x" * 300, "table_list.txt", "%2e%2e%2fevil.txt",
                "C:\\evil.txt", "leakdir/secret.txt"]


@pytest.mark.parametrize("name", UPLOAD_NAMES)
def test_upload_rejects_hostile_names(live: LiveAirflow, arena: dict, admin: httpx.Client, name: str) -> None:
    response = admin.post(f"{API}/tasks/{arena['task_id']}/files", files={"file": (name, b"pwned", "text/plain")},
                          data={"overwrite_mode": "replace"})
    if response.status_code == 200:
        # the multipart parser itself reduced a Windows path to its base name: stored inside, nowhere else
        stored = response.json()["data"]["file_name"]
        assert "/" not in stored and "\\" not in stored and (live.data_dir / arena["task_id"] / stored).is_file()
        (live.data_dir / arena["task_id"] / stored).unlink()
    else:
        assert response.status_code == 400, (name, response.status_code, response.text[:300])
    assert fingerprint(arena["outside"]) == arena["before"]


def test_upload_over_a_symlink_is_refused_and_its_target_untouched(live: LiveAirflow, arena: dict,
                                                                    admin: httpx.Client) -> None:
    for mode in ("backup", "replace", "skip"):
        response = admin.post(f"{API}/tasks/{arena['task_id']}/files",
                              files={"file": ("leak.txt", b"new", "text/plain")}, data={"overwrite_mode": mode})
        assert "symbolic link" in envelope(response, 400)["message"]
    assert (arena["outside"] / "secret.txt").read_text() == "TOP SECRET"
    assert (live.data_dir / arena["task_id"] / "leak.txt").is_symlink()


@pytest.mark.parametrize("name", ["../../outside_secrets", "file_bak_../../x", "file_bak_20250101_000001",
                                  "..%2F..%2Foutside_secrets", "%2e%2e", "file_bak_20250101_000000%2F..%2F..",
                                  "file_bak_x", "leakdir"])
def test_restore_rejects_hostile_backup_names(live: LiveAirflow, arena: dict, admin: httpx.Client, name: str) -> None:
    status, body = 0, b""
    conn = http.client.HTTPConnection("127.0.0.1", live.airflow.port, timeout=30)
    conn.putrequest("POST", f"{API}/tasks/{arena['task_id']}/backups/{name}/restore", skip_accept_encoding=True)
    conn.putheader("Authorization", f"Bearer {live.admin_token}")
    conn.putheader("Content-Length", "0")
    conn.endheaders()
    response = conn.getresponse()
    status, body = response.status, response.read()
    conn.close()
    assert status in (400, 404), (name, status, body[:300])
    assert not (live.data_dir / arena["task_id"] / "secret.txt").exists()
    assert fingerprint(arena["outside"]) == arena["before"]


def test_delete_never_leaves_the_data_directory(live: LiveAirflow, arena: dict, admin: httpx.Client) -> None:
    for task_id in HOSTILE_TASK_IDS[:6]:
        conn = http.client.HTTPConnection("127.0.0.1", live.airflow.port, timeout=30)
        conn.putrequest("DELETE", f"{API}/tasks/{task_id}", skip_accept_encoding=True)
        conn.putheader("Authorization", f"Bearer {live.admin_token}")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", "16")
        conn.endheaders(b'{"confirm":true}')
        status = conn.getresponse().status
        conn.close()
        assert status in (400, 404), (task_id, status)
    linked = admin.request("DELETE", f"{API}/tasks/{arena['linked_id']}", json={"confirm": True, "force": True})
    assert linked.status_code == 400 and "symbolic link" in linked.json()["message"]
    batch = envelope(admin.request("DELETE", f"{API}/tasks", json={
        "confirm": True, "task_ids": ["../../outside_secrets", arena["linked_id"], "task_20991231_000000"]}), 200)
    assert batch["data"]["summary"]["successfully_deleted"] == 0
    assert fingerprint(arena["outside"]) == arena["before"]
    assert (live.data_dir / arena["linked_id"]).is_symlink()
    assert sorted(p.name for p in live.data_dir.parent.iterdir()) == arena["parent_listing"]


def test_limits_and_content_types(live: LiveAirflow, arena: dict, admin: httpx.Client) -> None:
    task_id = arena["task_id"]
    big = b"a\n" * (1024 * 1024 + 10)  # > 2 MB table list
    envelope(admin.post(f"{API}/tasks/{task_id}/upload-table-list", files={"file": ("t.txt", big, "text/plain")}),
             413)
    huge = os.urandom(11 * 1024 * 1024)
    envelope(admin.post(f"{API}/tasks/{task_id}/files", files={"file": ("big.bin", huge, "application/octet-stream")}),
             413)
    assert not (live.data_dir / task_id / "big.bin").exists()
    envelope(admin.post(f"{API}/tasks/{task_id}/files", content=b"raw", headers={"Content-Type": "text/plain"}), 415)
    envelope(admin.post(f"{API}/tasks", content=b"{not json", headers={"Content-Type": "application/json"}), 400)
    envelope(admin.post(f"{API}/tasks/{task_id}/upload-table-list",
                        files={"file": ("t.txt", b"\x89PNG\x00\x00", "image/png")}), 400)
    bad = envelope(admin.post(f"{API}/tasks/{task_id}/table-list", json={"tables": ["a.b.c.d"]}), 400)
    assert "parts" in bad["message"]
    assert fingerprint(arena["outside"]) == arena["before"]
