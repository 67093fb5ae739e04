"""``POST /tasks/{id}/execute`` reaches Airflow at the configured address only, whatever the request says.

The app is built with the plugin's real ``AirflowRunLauncher`` (its address from
``DATA_PIPELINE_AIRFLOW_API_URL``) and stand-in auth. Two plain socket servers on the loopback play
Airflow and an attacker's listener; the attacker's address goes into ``Host``, ``X-Forwarded-Host``
and ``Forwarded``. Both servers stop by themselves after a few seconds.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from data_pipeline.api.app import create_app
from data_pipeline.tasks.store import TaskStore

from .conftest import API, FAKE_ACCESS, WRITER, TestClient, envelope, new_task

os.environ.setdefault("AIRFLOW_HOME", str(Path(__file__).resolve().parents[2] / ".local" / "airflow_home_unit"))
rest_api = pytest.importorskip("data_pipeline_airflow.rest_api")

LIFETIME_SECONDS = 20.0


class Listener:
    """A loopback HTTP-ish server that records every request it receives and answers a canned DAG run."""

    def __init__(self, run_id: str) -> None:
        self.requests: list[bytes] = []
        self._run_id = run_id
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        deadline = time.monotonic() + LIFETIME_SECONDS  # never outlives a hung test
        with self._sock:
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    conn, _ = self._sock.accept()
                except TimeoutError:
                    continue
                with conn:
                    conn.settimeout(2.0)
                    self.requests.append(self._read(conn))
                    body = json.dumps({"dag_run_id": self._run_id}).encode()
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    @staticmethod
    def _read(conn: socket.socket) -> bytes:
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(rest) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                rest += chunk
            return head + b"\r\n\r\n" + rest
        except TimeoutError:
            return data

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def attacker() -> Iterator[Listener]:
    listener = Listener("attacker-chosen-run")
    yield listener
    listener.close()


@pytest.fixture
def airflow() -> Iterator[Listener]:
    listener = Listener("api__configured_run")
    yield listener
    listener.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client_for(task_store: TaskStore, monkeypatch: pytest.MonkeyPatch, airflow_url: str) -> TestClient:
    """The task app as the plugin builds it (the launcher reads its address from the settings), stand-in auth."""
    monkeypatch.setenv("DATA_PIPELINE_MAX_CONCURRENT_TASKS", "1000")
    monkeypatch.setenv("DATA_PIPELINE_AIRFLOW_API_URL", airflow_url)
    app: FastAPI = create_app(FAKE_ACCESS, rest_api.AirflowRunLauncher(), store=task_store, prefix=API)
    return TestClient(app, raise_server_exceptions=False)


def hostile_headers(target: Listener) -> dict[str, str]:
    return {**WRITER, "Host": target.address, "X-Forwarded-Host": target.address, "X-Forwarded-Proto": "http",
            "X-Forwarded-Port": str(target.port), "Forwarded": f"host={target.address};proto=http"}


def test_execute_calls_the_configured_airflow_never_the_requests_host(
        attacker: Listener, airflow: Listener, task_store: TaskStore, data_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with client_for(task_store, monkeypatch, f"http://{airflow.address}") as client:
        task_id = new_task(client, table_list=["bss_company"])
        run = envelope(client.post(f"{API}/tasks/{task_id}/execute", headers=hostile_headers(attacker)), 202)["data"]
    assert run["dag_run_id"] == "api__configured_run"
    assert attacker.requests == []
    (request,) = airflow.requests
    assert request.startswith(b"POST /api/v2/dags/data_pipeline/dagRuns HTTP/1.1\r\n")
    assert b"\r\nauthorization: bearer writer-token\r\n" in request.lower()
    assert task_store.require_task(task_id).dag_run_id == "api__configured_run"


def test_a_failed_launch_leaves_the_task_runnable_and_the_host_uncalled(
        attacker: Listener, airflow: Listener, task_store: TaskStore, data_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with client_for(task_store, monkeypatch, f"http://127.0.0.1:{closed_port()}") as client:
        task_id = new_task(client, table_list=["bss_company"])
        before = task_store.require_task(task_id)
        for _ in range(2):  # the claim is given back each time: a 502 again, never 409
            body = envelope(client.post(f"{API}/tasks/{task_id}/execute", headers=hostile_headers(attacker)), 502)
            assert body["error_code"] == "AIRFLOW_ERROR"
            task = task_store.require_task(task_id)
            assert (task.status, task.started_at, task.dag_run_id) == (before.status, None, None)
    assert attacker.requests == []
    with client_for(task_store, monkeypatch, f"http://{airflow.address}") as client:
        envelope(client.post(f"{API}/tasks/{task_id}/execute", headers=hostile_headers(attacker)), 202)
    assert attacker.requests == [] and len(airflow.requests) == 1


def test_a_paused_dag_is_a_409_naming_the_pause_and_the_task_stays_runnable(
        airflow: Listener, task_store: TaskStore, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow with default settings pauses new DAGs: a run triggered there would wait for ever."""
    monkeypatch.setattr(rest_api, "dag_is_paused", lambda dag_id: dag_id == "data_pipeline")
    with client_for(task_store, monkeypatch, f"http://{airflow.address}") as client:
        task_id = new_task(client, table_list=["bss_company"])
        answer = client.post(f"{API}/tasks/{task_id}/execute", headers=WRITER)
    assert answer.status_code == 409, answer.text
    body = answer.json()
    assert body["error_code"] == "DAG_PAUSED" and "airflow dags unpause data_pipeline" in body["message"]
    assert airflow.requests == []  # no run was left waiting behind the pause
    task = task_store.require_task(task_id)
    assert task.status != "in_progress" and task.dag_run_id is None

