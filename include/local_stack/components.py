"""Start, watch and stop local Airflow components (api-server, scheduler, dag-processor, triggerer).

Each component leads a session of its own; the sessions are recorded in the home's ``stack.pids``
so ``make down`` ends every process in them (executor workers and task processes included), even
after a component crashed or was killed and left its children behind (see ``sessions``).
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from local_stack import sessions
from local_stack.airflow_env import ADMIN_USER, LocalAirflow

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
PID_FILE = "stack.pids"
DRAIN_SECONDS = 30.0  # how long a stop lets running task instances finish before it kills them


def _drain_scheduler(recorded: list[sessions.Session], grace: float) -> list[str]:
    """Stop the scheduler first, alone, so running task instances end on their own (``sessions.drain``)."""
    return [s.name for s in recorded if s.name == "scheduler" and sessions.drain(s, grace=grace)]


@dataclass
class RunningStack:
    airflow: LocalAirflow
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def log_file(self, component: str) -> Path:
        return self.airflow.home / "logs" / f"{component}.log"

    recorded: list[sessions.Session] = field(default_factory=list)

    def stop(self, timeout: float = 20.0, *, drain: float = DRAIN_SECONDS) -> None:
        """Drain the scheduler, then end every process of the sessions (SIGTERM, SIGKILL after ``timeout``)."""
        _drain_scheduler(self.recorded, drain)
        sessions.end(self.recorded, grace=timeout)
        for proc in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)  # reap our own children
        self.processes.clear()
        (self.airflow.home / PID_FILE).unlink(missing_ok=True)

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
    """Start components in sessions of their own, recorded as they start; output goes to files, never to pipes."""
    stack = RunningStack(airflow)
    for name in components:
        with open(stack.log_file(name), "ab") as log:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(
                [airflow.bin, *name.split()], env=airflow.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, cwd=str(airflow.home))
        stack.processes[name] = proc
        stack.recorded.append(sessions.describe(name, proc.pid))
        sessions.write_record(airflow.home / PID_FILE, stack.recorded)  # a crash mid-start still leaves a record
    return stack


def stop_recorded(airflow: LocalAirflow, *, grace: float = 20.0, drain: float = DRAIN_SECONDS) -> list[str]:
    """End every process of the sessions an earlier ``start`` recorded (``make down``); names of those running.

    The scheduler is drained first (running task instances finish, up to ``drain`` seconds).
    """
    pid_file = airflow.home / PID_FILE
    recorded = sessions.read_record(pid_file)
    drained = _drain_scheduler(recorded, drain)
    stopped = drained + [name for name in sessions.end(recorded, grace=grace) if name not in drained]
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
