"""Start, watch and stop local Airflow components (api-server, scheduler, dag-processor, triggerer)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from local_stack.airflow_env import ADMIN_USER, LocalAirflow

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


@dataclass
class RunningStack:
    airflow: LocalAirflow
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def log_file(self, component: str) -> Path:
        return self.airflow.home / "logs" / f"{component}.log"

    def stop(self, timeout: float = 20.0) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.processes.values():
            remaining = max(0.1, deadline - time.monotonic())
            try:
                proc.wait(remaining)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.processes.clear()
        (self.airflow.home / "stack.pids").unlink(missing_ok=True)

    def check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                tail = self.log_file(name).read_text(errors="replace")[-3000:]
                raise RuntimeError(f"airflow {name} exited with {proc.returncode}; last log lines:\n{tail}")


def migrate(airflow: LocalAirflow) -> None:
    """``airflow db migrate`` (idempotent), output to the home's logs."""
    log = airflow.home / "logs" / "db-migrate.log"
    with open(log, "ab") as out:
        result = subprocess.run([airflow.bin, "db", "migrate"], env=airflow.env, stdout=out, stderr=subprocess.STDOUT,
                                check=False, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed; see {log}:\n{log.read_text(errors='replace')[-3000:]}")


def start(airflow: LocalAirflow, components: tuple[str, ...] = COMPONENTS) -> RunningStack:
    """Start components in their own process groups; their output goes to files (never to unread pipes)."""
    stack = RunningStack(airflow)
    for name in components:
        with open(stack.log_file(name), "ab") as log:  # the child keeps its own copy of the descriptor
            stack.processes[name] = subprocess.Popen(
                [airflow.bin, *name.split()], env=airflow.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, cwd=str(airflow.home))
    (airflow.home / "stack.pids").write_text("\n".join(f"{n} {p.pid}" for n, p in stack.processes.items()) + "\n")
    return stack


def stop_recorded(airflow: LocalAirflow) -> list[str]:
    """Stop components started by an earlier ``start`` (``make down``)."""
    pid_file = airflow.home / "stack.pids"
    stopped: list[str] = []
    if not pid_file.exists():
        return stopped
    for line in pid_file.read_text().splitlines():
        name, _, pid = line.partition(" ")
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.killpg(int(pid), signal.SIGTERM)
            stopped.append(name)
    pid_file.unlink(missing_ok=True)
    return stopped


def token(airflow: LocalAirflow, user: str = ADMIN_USER) -> str:
    response = httpx.post(f"{airflow.base_url}/auth/token",
                          json={"username": user, "password": airflow.passwords[user]}, timeout=30)
    response.raise_for_status()
    return response.json()["access_token"]


def wait_ready(stack: RunningStack, *, timeout: float = 180.0, dag_id: str | None = "data_pipeline") -> str:
    """Wait for the api-server to answer and (optionally) ``dag_id`` to be parsed; return an admin token."""
    deadline = time.monotonic() + timeout
    base = stack.airflow.base_url
    tok = None
    last_error = ""
    while time.monotonic() < deadline:
        stack.check_alive()
        try:
            if tok is None:
                tok = token(stack.airflow)
            if dag_id is None:
                return tok
            r = httpx.get(f"{base}/api/v2/dags/{dag_id}", headers={"Authorization": f"Bearer {tok}"}, timeout=10)
            if r.status_code == 200:
                return tok
            last_error = f"{dag_id}: HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(1.0)
    raise TimeoutError(f"Airflow at {base} not ready after {timeout:.0f}s ({last_error})")
