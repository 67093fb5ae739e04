"""Process sessions of the local stack: record them at start, end every process in them at stop.

Each component starts as the leader of a new session (``start_new_session=True``), so its pid is
also its process group and session id. Airflow's workers stay in that session even when they move
to process groups of their own (the task supervisor does), and even after the component itself was
killed. Stopping therefore signals every process group found in the recorded sessions — SIGTERM,
then SIGKILL after a grace period — not only the component's own group.

Sessions are found through ``/proc`` (Linux); elsewhere only the components' own groups are
signalled. A recorded session is ours when its leader still runs with the recorded start time, or
when the leader is gone and members remain (the kernel does not hand out a pid that is still some
process's session id, so such members can only be the leader's). Records from an earlier boot are
ignored.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Session:
    name: str
    sid: int
    started: int | None = None  # the leader's start time (clock ticks since boot), to tell a reused pid


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    pgid: int
    sid: int
    started: int
    zombie: bool


def _stat(pid: int) -> ProcInfo | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
    return ProcInfo(pid=pid, pgid=int(fields[2]), sid=int(fields[3]), started=int(fields[19]),
                    zombie=fields[0] in ("Z", "X"))


def _boot_id() -> str | None:
    try:
        return (PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return None


def describe(name: str, pid: int) -> Session:
    """A just-started component's session, with its leader's start time when the system tells it."""
    info = _stat(pid)
    return Session(name, pid, info.started if info else None)


def write_record(path: Path, sessions: Iterable[Session]) -> None:
    lines = [f"boot {_boot_id() or '-'}"]
    lines += [f"{s.name} {s.sid} {s.started if s.started is not None else '-'}" for s in sessions]
    path.write_text("\n".join(lines) + "\n")


def read_record(path: Path) -> list[Session]:
    """The sessions recorded in ``path``; none when it is missing, unreadable or from an earlier boot."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    sessions: list[Session] = []
    for line in lines:
        parts = line.split()
        if parts[:1] == ["boot"]:
            recorded, current = (parts[1] if len(parts) > 1 else "-"), _boot_id()
            if recorded != "-" and current is not None and recorded != current:
                return []
            continue
        with contextlib.suppress(ValueError, IndexError):
            started = int(parts[2]) if len(parts) > 2 and parts[2] != "-" else None
            sessions.append(Session(parts[0], int(parts[1]), started))
    return sessions


def members(sid: int) -> list[ProcInfo]:
    """Live (not zombie) processes of session ``sid``; empty where ``/proc`` is not available."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(PROC):
            if entry.name.isdigit():
                info = _stat(int(entry.name))
                if info is not None and info.sid == sid and not info.zombie:
                    found.append(info)
    return found


def _is_ours(session: Session) -> bool:
    leader = _stat(session.sid)
    if leader is None or leader.zombie:
        return True  # gone: whatever still carries its session id is its own
    return session.started is None or leader.started == session.started


def _groups(session: Session) -> set[int]:
    return {session.sid} | {p.pgid for p in members(session.sid)}


def _signal(groups: set[int], sig: int) -> None:
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def _alive(sessions: list[Session]) -> list[ProcInfo]:
    return [p for s in sessions for p in members(s.sid)]


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _end_groups(sessions: list[Session], grace: float) -> list[str]:
    """Without ``/proc``: each component's own process group only."""
    running = [s for s in sessions if _group_exists(s.sid)]
    _signal({s.sid for s in running}, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(_group_exists(s.sid) for s in running) and time.monotonic() < deadline:
        time.sleep(0.1)
    _signal({s.sid for s in running if _group_exists(s.sid)}, signal.SIGKILL)
    return [s.name for s in running]


def end(sessions: Iterable[Session], *, grace: float = 20.0) -> list[str]:
    """SIGTERM every process group of ``sessions``, SIGKILL what is left after ``grace`` seconds.

    Returns the names of the sessions that were ours (their leader or some member still ran).
    """
    if not (PROC / "self" / "stat").is_file():
        return _end_groups(list(sessions), grace)
    ours = [s for s in sessions if _is_ours(s)]
    running = [s for s in ours if members(s.sid) or _stat(s.sid) is not None]
    for session in running:
        _signal(_groups(session), signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _alive(running) and time.monotonic() < deadline:
        time.sleep(0.1)
    for _ in range(50):  # a process forking while it is killed may leave a new member: sweep again
        left = _alive(running)
        if not left:
            break
        for session in running:
            _signal(_groups(session), signal.SIGKILL)
        for proc in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(proc.pid, signal.SIGKILL)
        time.sleep(0.1)
    return [s.name for s in running]


def drain(session: Session, *, grace: float) -> bool:
    """SIGTERM only the session's leader and wait up to ``grace`` seconds for it to exit; True if it did.

    For the scheduler: on SIGTERM it stops scheduling and its LocalExecutor waits for the running
    task instances to finish before the process exits. Signalling the whole session instead (as ``end``
    does) kills them mid-run: a task whose code was running reports itself failed (a red run no user
    caused), one still starting is reset and run again by the next scheduler. Pausing the DAGs instead
    would change what the user set; a task still running after ``grace`` is killed as before. A
    leader already gone (crashed) leaves nothing to drain.
    """
    if not _is_ours(session) or _stat(session.sid) is None:
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(session.sid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        leader = _stat(session.sid)
        if leader is None or leader.zombie:
            return True
        time.sleep(0.2)
    return False
