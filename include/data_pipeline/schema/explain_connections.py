"""The SQL validator's connections: a few, each in libpq pipeline mode, watched by one selector, and
reconnected with backoff when the server goes away (a restart must not change any verdict).

A connection error that retrying cannot fix (wrong password, unknown database) fails at once instead
of after the whole retry budget.
"""

from __future__ import annotations

import contextlib
import selectors
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import pq

from data_pipeline.schema.business_db import BusinessDbError, is_permanent_connect_error
from data_pipeline.schema.explain_protocol import ExplainJob, ValidatorSettings
from data_pipeline.secrets_mask import mask


class DatabaseUnavailable(BusinessDbError):
    """Every connection stayed down longer than the retry budget, or the database refuses us for good."""

    error_code = "BUSINESS_DB_UNAVAILABLE"


@dataclass
class Slot:
    """One connection of the validator (or the wait before reconnecting) and what is in flight on it."""

    number: int
    conn: psycopg.Connection[Any] | None = None
    pg: pq.abc.PGconn | None = None
    inflight: deque[ExplainJob] = field(default_factory=deque)
    mid_query: bool = False
    in_transaction: bool = False
    transaction_statements: int = 0
    want_write: bool = False
    registered: int = 0
    retry_at: float = 0.0
    backoff: float = 0.0
    down_since: float | None = None
    last_error: str | None = None
    last_progress: float = 0.0


class ExplainConnections:
    """The slots (connection or the wait before the next attempt) of one validator, and their selector."""

    def __init__(self, connect: Callable[[], psycopg.Connection[Any]], settings: ValidatorSettings, describe: str,
                 log: Callable[[str], None]) -> None:
        self._connect = connect
        self.settings = settings
        self.describe = describe
        self._log = log
        self.slots: list[Slot] = []
        self.selector = selectors.DefaultSelector()
        self.reconnects = 0

    def close(self) -> None:
        for slot in self.slots:
            self.drop(slot)
        self.slots = []
        self.selector.close()
        self.selector = selectors.DefaultSelector()

    def ensure(self, jobs: int) -> None:
        wanted = max(1, min(self.settings.concurrency, -(-jobs // 16)))
        while len(self.slots) < wanted:
            self.slots.append(Slot(number=len(self.slots), backoff=self.settings.backoff_initial))

    def reconnect_due(self, now: float) -> None:
        for slot in self.slots:
            if slot.pg is not None or now < slot.retry_at:
                continue
            try:
                conn = self._connect()
            except (psycopg.Error, BusinessDbError) as exc:
                message = mask(exc.message if isinstance(exc, BusinessDbError) else str(exc)).strip()
                permanent = exc.permanent if isinstance(exc, BusinessDbError) else is_permanent_connect_error(message)
                if permanent:
                    if not isinstance(exc, BusinessDbError):
                        message = f"cannot connect to {self.describe}: {message}"
                    raise DatabaseUnavailable(message) from None
                slot.last_error = message
                slot.down_since = slot.down_since if slot.down_since is not None else now
                slot.retry_at = time.monotonic() + slot.backoff
                slot.backoff = min(self.settings.backoff_max, slot.backoff * 2)
                continue
            try:
                conn.autocommit = True
                conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                conn.execute("SET client_encoding TO 'UTF8'")
                pg = conn.pgconn
                pg.enter_pipeline_mode()
                pg.nonblocking = 1
            except psycopg.Error as exc:
                conn.close()
                slot.last_error = mask(str(exc)).strip()
                slot.down_since = slot.down_since if slot.down_since is not None else now
                slot.retry_at = time.monotonic() + slot.backoff
                slot.backoff = min(self.settings.backoff_max, slot.backoff * 2)
                continue
            if slot.down_since is not None:
                self.reconnects += 1
                self._log(f"reconnected to {self.describe} (connection {slot.number + 1}) after "
                          f"{now - slot.down_since:.1f}s: {slot.last_error}")
            slot.conn, slot.pg = conn, pg
            slot.mid_query = False
            slot.want_write = False
            slot.down_since = None
            slot.backoff = self.settings.backoff_initial
            slot.last_progress = time.monotonic()
            self.register(slot)

    def check_deadline(self, now: float) -> None:
        downs = [s.down_since for s in self.slots if s.down_since is not None]
        if len(downs) == len(self.slots) and downs and now - max(downs) > self.settings.reconnect_seconds:
            last = next((s.last_error for s in self.slots if s.last_error), "unknown error")
            raise DatabaseUnavailable(f"{self.describe} is unreachable: no connection for "
                                      f"{self.settings.reconnect_seconds:.0f}s of retries (last error: {last})")

    def register(self, slot: Slot) -> None:
        assert slot.pg is not None
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if slot.want_write else 0)
        fd = slot.pg.socket
        if slot.registered:
            self.selector.modify(fd, events, slot)
        else:
            self.selector.register(fd, events, slot)
            slot.registered = fd

    def drop(self, slot: Slot) -> None:
        if slot.registered:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.selector.unregister(slot.registered)
            slot.registered = 0
        if slot.conn is not None:
            # A broken connection may complain while closing; it is gone either way.
            with contextlib.suppress(Exception):
                slot.conn.close()
        slot.conn = slot.pg = None
        slot.inflight.clear()
        slot.mid_query = False
        slot.in_transaction = False
        slot.want_write = False

    def mark_down(self, slot: Slot, message: str) -> None:
        """The slot's connection is gone: remember why, and when to try again (backoff doubles)."""
        now = time.monotonic()
        slot.last_error = message
        slot.down_since = slot.down_since if slot.down_since is not None else now
        slot.retry_at = now + slot.backoff
        slot.backoff = min(self.settings.backoff_max, slot.backoff * 2)
