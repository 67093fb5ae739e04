"""``make down`` ends every process the stack started, even after a component was killed and left workers behind.

No Airflow here: the "components" are a small Python program that forks like the scheduler does
(workers in its group, a worker with a group of its own like the task supervisor, a grandchild,
processes that ignore SIGTERM). Every process exits by itself after ``LIFETIME`` seconds, so a
failing test leaves nothing running for long.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from local_stack import components, sessions
from local_stack.airflow_env import LocalAirflow

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="sessions are found through /proc")

LIFETIME = 30

PROGRAM = f"""#!{sys.executable}
import os, signal, sys, time

deadline = time.monotonic() + {LIFETIME}


def linger(ignore_term):
    if ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while time.monotonic() < deadline:
        time.sleep(0.05)
    os._exit(0)


for i in range(3):
    if os.fork() == 0:
        if i == 0:
            os.setpgid(0, 0)  # a group of its own in the same session, as Airflow's task supervisor does
        if i == 1 and os.fork() == 0:
            linger(ignore_term=True)  # a grandchild that only SIGKILL ends
        linger(ignore_term=(i == 2))
open(sys.argv[1] + ".ready", "w").close()
linger(ignore_term=False)
"""


@dataclass(frozen=True)
class ForkingStack(LocalAirflow):
    program: Path = Path()

    @property
    def bin(self) -> str:
        return str(self.program)


@pytest.fixture
def airflow(tmp_path: Path) -> ForkingStack:
    (tmp_path / "logs").mkdir()
    program = tmp_path / "fake_airflow"
    program.write_text(PROGRAM)
    program.chmod(0o755)
    return ForkingStack(home=tmp_path, port=0, env={}, passwords={}, program=program)


def wait_until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.05)
    assert condition(), "timed out"  # type: ignore[operator]


def test_down_ends_every_process_of_the_stack_after_a_component_was_killed(airflow: ForkingStack) -> None:
    stack = components.start(airflow, ("scheduler", "triggerer"))
    try:
        wait_until(lambda: all((airflow.home / f"{n}.ready").exists() for n in ("scheduler", "triggerer")))
        scheduler = stack.processes["scheduler"]
        sids = [p.pid for p in stack.processes.values()]
        wait_until(lambda: all(len(sessions.members(sid)) == 5 for sid in sids))
        assert len({p.pgid for p in sessions.members(scheduler.pid)}) == 2

        scheduler.send_signal(signal.SIGKILL)  # the crash: its workers stay behind, in its session
        scheduler.wait(5)
        orphans = sessions.members(scheduler.pid)
        assert len(orphans) == 4 and scheduler.pid not in {p.pid for p in orphans}

        started = time.monotonic()
        stopped = components.stop_recorded(airflow, grace=1.0)
        assert sorted(stopped) == ["scheduler", "triggerer"]
        assert time.monotonic() - started < 10
        assert [sessions.members(sid) for sid in sids] == [[], []]
        assert not (airflow.home / components.PID_FILE).exists()
        assert components.stop_recorded(airflow) == []
    finally:
        stack.stop(timeout=1.0)
    for proc in stack.processes.values():
        assert proc.poll() is not None


def test_running_stack_stop_ends_the_whole_sessions_too(airflow: ForkingStack) -> None:
    stack = components.start(airflow, ("dag-processor",))
    wait_until(lambda: (airflow.home / "dag-processor.ready").exists())
    (proc,) = stack.processes.values()
    sid = proc.pid
    wait_until(lambda: len(sessions.members(sid)) == 5)
    stack.stop(timeout=1.0)
    assert sessions.members(sid) == [] and proc.returncode is not None


def test_a_record_never_reaches_processes_that_are_not_the_stacks(tmp_path: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({LIFETIME})"], start_new_session=True)
    try:
        actual = sessions.describe("api-server", other.pid)
        assert actual.started is not None
        reused = sessions.Session("api-server", other.pid, started=actual.started + 1)  # the pid went to another
        assert sessions.end([reused], grace=0.1) == [] and other.poll() is None
        assert sessions.end([actual], grace=5) == ["api-server"]
        assert other.wait(5) == -signal.SIGTERM
    finally:
        other.kill()
        other.wait(5)
    record = tmp_path / "stack.pids"
    sessions.write_record(record, [actual])
    assert sessions.read_record(record) == [actual]
    record.write_text("boot 00000000-0000-0000-0000-000000000000\napi-server 1 5\n")
    assert sessions.read_record(record) == []  # from an earlier boot: nothing of it can be running
    record.write_text("api-server 123\n")  # the format before start times were recorded
    assert sessions.read_record(record) == [sessions.Session("api-server", 123, None)]
