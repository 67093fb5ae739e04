"""Check many SQL strings with ``EXPLAIN`` on the business database without ever executing them.

Why each statement is safe to send, whatever text an LLM produced:

- The text goes after ``EXPLAIN (COSTS OFF)``, so it must be an explainable statement (SELECT, VALUES,
  INSERT/UPDATE/DELETE/MERGE, CREATE TABLE AS, ...); ``ANALYZE``, DDL and transaction control are syntax
  errors, and nothing is executed. ``SELECT pg_sleep(100)`` or ``nextval()`` are planned, not run.
- It is sent with the extended query protocol (``PQsendQueryParams``; libpq pipeline mode allows
  nothing else), which rejects several commands in one string: ``SELECT 1; DELETE ...`` is an error
  instead of a DELETE. psycopg's ``execute()`` without parameters would use the simple protocol, which
  is why this module talks to libpq through ``psycopg.pq`` directly.
- Every statement runs inside a ``BEGIN READ ONLY`` transaction with ``SET LOCAL statement_timeout`` and
  ``lock_timeout``, from a savepoint it is rolled back to afterwards (releasing its locks), and the
  transaction itself is rolled back at the end; the session default is read-only as well. Functions the
  planner evaluates (mislabelled IMMUTABLE ones) therefore cannot write, and cannot run forever.

Speed: one thread drives N connections in pipeline mode, a bounded window of statements in flight per
connection, each statement ``ROLLBACK TO SAVEPOINT; EXPLAIN ...; Sync`` (three protocol messages, no
round trip of its own). Measured on 2 cores for 10,000 statements (bench/bench_validation.py
``--strategies``): faster than N threads with one statement in flight each, and than N threads each
pipelining one connection.

Failures: SQL errors are verdicts (never retried). A statement timeout is an ``invalid`` verdict with
reason ``timeout``. Transient problems (connection lost, server shutting down or restarting, lock
timeouts, serialization failures) are retried a bounded number of times, reconnecting with backoff, so
a PostgreSQL restart during validation changes neither the outcome nor the verdicts.
"""

from __future__ import annotations

import heapq
import itertools
import selectors
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import pq

from data_pipeline.schema.explain_connections import ExplainConnections, Slot
from data_pipeline.schema.explain_protocol import (
    EXPLAIN_PREFIX,
    ExplainJob,
    ValidatorSettings,
    Verdict,
    classify,
    error_of,
    verdict_for,
)
from data_pipeline.secrets_mask import mask

_S = pq.ExecStatus
# A statement whose text mentions one of these is checked for data-modifying plan nodes.
_DML_WORDS = ("insert", "update", "delete", "merge")
_SAVEPOINT = "explain_check"
TRANSACTION_STATEMENTS = 2000  # statements per read-only transaction before it is rolled back and renewed


class _SlotBroken(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Run:
    """The bookkeeping of one ``validate`` call: what is still to send, waiting, or outstanding."""

    def __init__(self, pending: deque[ExplainJob], deliver: Callable[[Verdict], None], total: int,
                 settings: ValidatorSettings) -> None:
        self.pending = pending
        self.deliver = deliver
        self.outstanding = total
        self.settings = settings
        self.delayed: list[tuple[float, int, ExplainJob]] = []  # (ready time, tie-breaker, job): retries after backoff
        self._counter = itertools.count()

    def release_delayed(self, now: float) -> None:
        while self.delayed and self.delayed[0][0] <= now:
            self.pending.appendleft(heapq.heappop(self.delayed)[2])

    def finish(self, job: ExplainJob, verdict: Verdict) -> None:
        job.finished = True
        self.outstanding -= 1
        self.deliver(verdict)

    def requeue(self, job: ExplainJob, message: str, *, delay: float = 0.0) -> None:
        """Send ``job`` again (after ``delay``), or give up with an ``error`` verdict once out of attempts."""
        job.finished = True
        if job.attempts >= self.settings.max_attempts:
            self.outstanding -= 1
            self.deliver(Verdict(job.index, "error", error=f"not validated after {job.attempts} attempts: {message}",
                                 reason="transient", attempts=job.attempts))
            return
        fresh = ExplainJob(job.index, job.payload, job.check_plan, attempts=job.attempts)
        if delay > 0:
            heapq.heappush(self.delayed, (time.monotonic() + delay, next(self._counter), fresh))
        else:
            self.pending.appendleft(fresh)


class SqlValidator:
    """Validates batches of SQL over a few pipelined connections, kept open between batches."""

    def __init__(self, connect: Callable[[], psycopg.Connection[Any]], settings: ValidatorSettings | None = None,
                 *, describe: str = "the business database", log: Callable[[str], None] | None = None) -> None:
        self.settings = settings or ValidatorSettings()
        self.describe = describe
        self._log = log or (lambda message: None)
        self._pool = ExplainConnections(connect, self.settings, describe, self._log)
        self.statements_sent = 0
        s = self.settings
        self._begin = [
            b"BEGIN TRANSACTION READ ONLY",
            f"SET LOCAL statement_timeout = {s.statement_timeout_ms}".encode(),
            f"SET LOCAL lock_timeout = {s.lock_timeout_ms}".encode(),
            f"SAVEPOINT {_SAVEPOINT}".encode(),
        ]
        self._rollback_to = f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}".encode()

    def __enter__(self) -> SqlValidator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.close()

    @property
    def reconnects(self) -> int:
        """Connections re-established after a loss, over the validator's life."""
        return self._pool.reconnects

    def validate(self, sqls: Sequence[str], on_verdict: Callable[[Verdict], None] | None = None,
                 on_tick: Callable[[], None] | None = None) -> list[Verdict]:
        """One verdict per SQL (same order). ``on_verdict`` is called as each becomes final (any order)."""
        verdicts: list[Verdict | None] = [None] * len(sqls)
        remaining = len(sqls)

        def deliver(verdict: Verdict) -> None:
            nonlocal remaining
            verdicts[verdict.index] = verdict
            remaining -= 1
            if on_verdict is not None:
                on_verdict(verdict)

        pending: deque[ExplainJob] = deque()
        for index, text in enumerate(sqls):
            early = self._precheck(index, text)
            if early is not None:
                deliver(early)
                continue
            lowered = text.lower()
            pending.append(ExplainJob(index, (EXPLAIN_PREFIX + text).encode("utf-8"),
                                      any(word in lowered for word in _DML_WORDS)))
        if pending:
            self._run(pending, deliver, on_tick, len(pending))
        return [v for v in verdicts if v is not None]

    def _precheck(self, index: int, text: str) -> Verdict | None:
        if not text.strip():
            return Verdict(index, "invalid", error="the SQL is empty", reason="empty")
        if "\x00" in text:
            return Verdict(index, "invalid", error="the SQL contains a NUL character", reason="nul_character")
        return None

    # -- the loop ------------------------------------------------------------------------------

    def _run(self, pending: deque[ExplainJob], deliver: Callable[[Verdict], None], on_tick: Callable[[], None] | None,
             total: int) -> None:
        self._pool.ensure(total)
        run = _Run(pending, deliver, total, self.settings)
        for slot in self._pool.slots:  # idle since the previous batch: not a hung connection
            slot.last_progress = time.monotonic()
        last_tick = time.monotonic()
        try:
            while run.outstanding > 0:
                now = time.monotonic()
                run.release_delayed(now)
                if run.pending and any(s.pg is None for s in self._pool.slots):
                    self._pool.reconnect_due(now)
                live = [s for s in self._pool.slots if s.pg is not None]
                for slot in live:
                    self._fill(slot, run)
                timeout = 0.5 if not run.delayed else min(0.5, max(0.0, run.delayed[0][0] - now))
                if not live:
                    self._pool.check_deadline(now)
                    due = min(s.retry_at for s in self._pool.slots)
                    time.sleep(min(timeout, max(0.005, due - now)))
                    continue
                for key, events in self._pool.selector.select(timeout):
                    slot = key.data
                    if slot.pg is None:
                        continue
                    try:
                        if events & selectors.EVENT_WRITE:
                            self._flush(slot)
                        if events & selectors.EVENT_READ:
                            self._read(slot, run)
                    except _SlotBroken as exc:
                        self._teardown(slot, exc.message, run)
                    except psycopg.Error as exc:
                        self._teardown(slot, mask(str(exc)).strip() or type(exc).__name__, run)
                self._watchdog(run)
                if on_tick is not None and time.monotonic() - last_tick >= 0.5:
                    last_tick = time.monotonic()
                    on_tick()
        except BaseException:
            # Leave no half-read pipeline behind: a later batch starts on fresh connections.
            for slot in self._pool.slots:
                self._pool.drop(slot)
            raise

    def _fill(self, slot: Slot, run: _Run) -> None:
        """Send statements up to the window: ``ROLLBACK TO SAVEPOINT; EXPLAIN ...; Sync`` each.

        The rollback to the savepoint undoes whatever the previous statement did (nothing, or a failed
        transaction state) and releases its locks, so every statement starts from the same clean,
        read-only point; three protocol messages per statement instead of a transaction each.
        """
        assert slot.pg is not None
        pg = slot.pg
        sent = False
        try:
            while run.pending and len(slot.inflight) < self.settings.window:
                if not slot.inflight:
                    slot.last_progress = time.monotonic()  # the watchdog measures from the first thing sent
                if not slot.in_transaction:
                    for command in self._begin:
                        pg.send_query_params(command, None)
                    pg.pipeline_sync()
                    slot.inflight.append(ExplainJob(-1, b"", False, kind="begin"))
                    slot.in_transaction = True
                    slot.transaction_statements = 0
                job = run.pending.popleft()
                job.attempts += 1
                job.sent_at = time.monotonic()
                slot.inflight.append(job)
                pg.send_query_params(self._rollback_to, None)
                pg.send_query_params(job.payload, None)
                pg.pipeline_sync()
                self.statements_sent += 1
                slot.transaction_statements += 1
                sent = True
                if slot.transaction_statements >= TRANSACTION_STATEMENTS:
                    self._send_end(slot)
            if slot.in_transaction and not run.pending:
                self._send_end(slot)  # no open transaction while idle (idle_in_transaction timeouts, locks)
                sent = True
            if sent:
                self._flush(slot)
        except _SlotBroken as exc:
            self._teardown(slot, exc.message, run)
        except psycopg.Error as exc:
            self._teardown(slot, mask(str(exc)).strip() or type(exc).__name__, run)

    def _send_end(self, slot: Slot) -> None:
        assert slot.pg is not None
        slot.pg.send_query_params(b"ROLLBACK", None)
        slot.pg.pipeline_sync()
        slot.inflight.append(ExplainJob(-1, b"", False, kind="end"))
        slot.in_transaction = False

    def _flush(self, slot: Slot) -> None:
        assert slot.pg is not None
        try:
            more = slot.pg.flush()
        except psycopg.Error as exc:
            raise _SlotBroken(mask(str(exc)).strip() or "connection lost while sending") from None
        want = more == 1
        if want != slot.want_write:
            slot.want_write = want
            self._pool.register(slot)

    def _read(self, slot: Slot, run: _Run) -> None:
        pg = slot.pg
        assert pg is not None
        pg.consume_input()
        while not pg.is_busy():
            res = pg.get_result()
            if res is None:
                if not slot.mid_query:
                    break
                slot.mid_query = False
                continue
            status = res.status
            if status == _S.PIPELINE_SYNC:
                self._on_sync(slot, run)
                continue
            slot.mid_query = True
            if not slot.inflight:
                raise _SlotBroken("the server sent a result nobody asked for")
            job = slot.inflight[0]
            position = job.seen
            job.seen += 1
            if job.kind != "job" or position == 0:
                # BEGIN/SET LOCAL/SAVEPOINT, ROLLBACK, or the ROLLBACK TO SAVEPOINT before a statement: any
                # failure here means the connection is not in the state every verdict relies on.
                if status != _S.COMMAND_OK:
                    message = error_of(res)["message"] if status == _S.FATAL_ERROR else "pipeline aborted"
                    raise _SlotBroken(f"read-only transaction control failed: {message}")
            elif status == _S.TUPLES_OK:
                job.explained = True
                if job.check_plan:
                    job.plan = [res.get_value(row, 0) or b"" for row in range(res.ntuples)]
            elif status == _S.FATAL_ERROR:
                error = error_of(res)
                if classify(error["sqlstate"], error["message"]) == "connection":
                    raise _SlotBroken(error["message"])
                job.error = error
            else:
                raise _SlotBroken(f"unexpected result status {pq.ExecStatus(status).name} for EXPLAIN")
        if pg.status == pq.ConnStatus.BAD:
            raise _SlotBroken("connection lost")

    def _on_sync(self, slot: Slot, run: _Run) -> None:
        if not slot.inflight:
            raise _SlotBroken("the server sent a Sync nobody asked for")
        job = slot.inflight.popleft()
        now = time.monotonic()
        if job.kind == "job" and not job.finished:
            # Service time: from when the server could start on it (sent, or the previous one done).
            duration = round((now - max(job.sent_at, slot.last_progress)) * 1000, 3)
            verdict = verdict_for(job, duration)
            if verdict is None:
                assert job.error is not None
                backoff = min(self.settings.backoff_max, self.settings.backoff_initial * 2 ** (job.attempts - 1))
                run.requeue(job, job.error["message"], delay=backoff)
            else:
                run.finish(job, verdict)
        slot.last_progress = now

    # -- connections ---------------------------------------------------------------------------

    def _teardown(self, slot: Slot, message: str, run: _Run) -> None:
        """The connection broke: resend what was in flight on it (bounded), reconnect after a backoff."""
        jobs = [job for job in slot.inflight if job.kind == "job" and not job.finished]
        self._pool.drop(slot)
        self._pool.mark_down(slot, message)
        self._log(f"connection {slot.number + 1} to {self.describe} lost ({message}); "
                  f"{len(jobs)} statement(s) will be sent again")
        for job in reversed(jobs):
            run.requeue(job, message)

    def _watchdog(self, run: _Run) -> None:
        """A connection with work in flight and no answer for far longer than any timeout is dead."""
        limit = self.settings.statement_timeout + self.settings.lock_timeout_ms / 1000 + 30.0
        now = time.monotonic()
        for slot in self._pool.slots:
            if slot.pg is not None and slot.inflight and now - slot.last_progress > limit:
                self._teardown(slot, f"no answer for {now - slot.last_progress:.0f}s", run)
