"""A task's log: ``data_pipeline.log`` in the task directory, the task store, and the process log.

One ``TaskLogger`` per step execution writes each line once to each destination; no handlers are
added to global loggers (the old system added one per call and duplicated every line). Inside
Airflow the process log is the Airflow task log, so per-item progress shows in the UI.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from data_pipeline.files.task_dir import TASK_LOG_FILE
from data_pipeline.secrets_mask import mask
from data_pipeline.steps import registry

if TYPE_CHECKING:
    from data_pipeline.tasks.store import TaskStore

process_log = logging.getLogger("data_pipeline")
_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING, "ERROR": logging.ERROR,
           "CRITICAL": logging.CRITICAL}


class TaskLogger:
    def __init__(self, *, task_dir: Path | None, task_id: str | None, store: TaskStore | None,
                 step: str | None = None, flush_every: int = 50, flush_seconds: float = 2.0) -> None:
        self.task_dir = task_dir
        self.task_id = task_id
        self.store = store
        self.step = step
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._flush_every = flush_every
        self._flush_seconds = flush_seconds
        self._last_flush = time.monotonic()
        self._last_progress: dict[str, tuple[float, int]] = {}

    def for_step(self, step: str | None) -> TaskLogger:
        return TaskLogger(task_dir=self.task_dir, task_id=self.task_id, store=self.store, step=step,
                          flush_every=self._flush_every, flush_seconds=self._flush_seconds)

    def log(self, level: str, message: str, *, extra: dict[str, Any] | None = None, step: str | None = None,
            _depth: int = 1) -> None:
        level = level.upper()
        message = mask(message)
        step = step or self.step
        now = datetime.now(UTC)
        caller = sys._getframe(_depth)  # who logged: recorded as module/function in the task store
        module = caller.f_globals.get("__name__")
        function = caller.f_code.co_name
        process_log.log(_LEVELS.get(level, logging.INFO), "%s%s", f"[{step}] " if step else "", message)
        if self.task_dir is not None and self.task_dir.is_dir():
            line = f"{now.astimezone().isoformat(timespec='milliseconds')} {level:<7} [{step or '-'}] {message}\n"
            fd = os.open(self.task_dir / TASK_LOG_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW,
                         0o644)
            try:
                os.write(fd, line.encode("utf-8"))  # one write on O_APPEND: lines from parallel batches never mix
            finally:
                os.close(fd)
        if self.store is not None and self.task_id is not None:
            entry = {"level": level, "message": message, "step": step, "module": module, "function": function,
                     "timestamp": now, "extra": extra or {}}
            with self._lock:
                self._buffer.append(entry)
                due = (len(self._buffer) >= self._flush_every or level in ("ERROR", "CRITICAL")
                       or time.monotonic() - self._last_flush > self._flush_seconds)
            if due:
                self.flush()

    def debug(self, message: str, **kw: Any) -> None:
        self.log("DEBUG", message, _depth=2, **kw)

    def info(self, message: str, **kw: Any) -> None:
        self.log("INFO", message, _depth=2, **kw)

    def warning(self, message: str, **kw: Any) -> None:
        self.log("WARNING", message, _depth=2, **kw)

    def error(self, message: str, **kw: Any) -> None:
        self.log("ERROR", message, _depth=2, **kw)

    def flush(self) -> None:
        with self._lock:
            entries, self._buffer = self._buffer, []
            self._last_flush = time.monotonic()
        if entries and self.store is not None and self.task_id is not None:
            try:
                self.store.add_logs(self.task_id, entries)
            except Exception as exc:  # the task store being down must not fail the step
                process_log.warning("could not write %d log rows to the task store: %s", len(entries), mask(str(exc)))

    def progress(self, done: int, total: int, *, step: str | None = None, force: bool = False,
                 what: str = "items") -> None:
        """Report done/total to every log and the task store, at most every 2 s or 5% (or when forced)."""
        step = step or self.step or "-"
        now = time.monotonic()
        last_time, last_done = self._last_progress.get(step, (0.0, -1))
        step_size = max(1, total // 20)
        if not force and done != total and now - last_time < 2.0 and done - last_done < step_size:
            return
        self._last_progress[step] = (now, done)
        self.info(f"progress {done}/{total} {what}", extra={"done": done, "total": total}, step=step)
        if self.store is not None and self.task_id is not None and registry.is_step(step):
            try:
                self.store.update_step(self.task_id, step, progress_done=done, progress_total=total)
            except Exception as exc:
                process_log.warning("could not record progress in the task store: %s", mask(str(exc)))
