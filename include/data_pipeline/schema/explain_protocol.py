"""What the SQL validator sends and what the answers mean: the EXPLAIN wrapping, the per-statement
job, server errors read from libpq results, and the verdict they amount to.

Kept apart from the connection handling so the rules for "valid", "invalid" and "retry" can be read
(and changed) in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any, Literal

from psycopg import errors as pg_errors
from psycopg import pq

from data_pipeline.secrets_mask import mask

EXPLAIN_PREFIX = "EXPLAIN (COSTS OFF) "
VerdictStatus = Literal["valid", "invalid", "error"]

_F = pq.DiagnosticField
_MODIFY_NODE = re.compile(rb"^\s*(?:->\s+)?(Insert|Update|Delete|Merge) on ")


@dataclass
class Verdict:
    """The outcome for one SQL string. ``error`` = could not be validated (transient failures exhausted)."""

    index: int
    status: VerdictStatus
    error: str | None = None
    sqlstate: str | None = None
    reason: str | None = None  # e.g. syntax_error, undefined_column, timeout, multiple_statements, modifies_data
    position: int | None = None  # 1-based character of the SQL the server's error points at
    hint: str | None = None
    duration_ms: float = 0.0
    attempts: int = 0

    @property
    def valid(self) -> bool:
        return self.status == "valid"

    def to_dict(self) -> dict[str, Any]:
        """Compact form (fields that are None left out); ``dataclasses.asdict`` is 10x slower."""
        return {k: v for k in _VERDICT_FIELDS if (v := getattr(self, k)) is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        return cls(**{k: data[k] for k in _VERDICT_FIELDS if k in data})

    def describe(self, sql: str | None = None) -> str:
        """The error as a person (or an LLM asked to repair it) wants to read it."""
        if self.status == "valid":
            return "valid"
        text = f"{self.sqlstate} {self.error}" if self.sqlstate else str(self.error)
        if self.position and sql:
            start = max(0, self.position - 1)
            text += f" (at character {self.position}: {sql[start:start + 40]!r})"
        if self.hint:
            text += f"; hint: {self.hint}"
        return text


_VERDICT_FIELDS = tuple(f.name for f in fields(Verdict))


@dataclass(frozen=True)
class ValidatorSettings:
    """Timeouts, parallelism and the retry budget of one validator."""

    statement_timeout: float = 10.0  # seconds, per statement
    lock_timeout: float | None = None  # seconds; default min(statement_timeout, 5)
    concurrency: int = 4  # connections
    window: int = 64  # statements in flight per connection
    max_attempts: int = 5  # sends per statement before a transient failure becomes an ``error`` verdict
    reconnect_seconds: float = 30.0  # how long every connection may stay down before giving up
    backoff_initial: float = 0.2
    backoff_max: float = 2.0

    @property
    def lock_timeout_ms(self) -> int:
        value = self.lock_timeout if self.lock_timeout is not None else min(self.statement_timeout, 5.0)
        return max(1, int(value * 1000))

    @property
    def statement_timeout_ms(self) -> int:
        return max(1, int(self.statement_timeout * 1000))


@dataclass
class ExplainJob:
    """One statement to EXPLAIN, or (``kind`` begin/end) the commands opening or closing a transaction."""

    index: int
    payload: bytes
    check_plan: bool
    attempts: int = 0
    kind: Literal["job", "begin", "end"] = "job"
    seen: int = 0  # results received for this entry's pipeline segment
    sent_at: float = 0.0
    error: dict[str, Any] | None = None
    plan: list[bytes] | None = None
    explained: bool = False
    finished: bool = False  # the verdict is known (or the job was requeued); later results are ignored


def classify(sqlstate: str | None, message: str) -> Literal["connection", "retry", "timeout", "invalid"]:
    """What a server error means for a verdict: an SQL problem, a timeout, or something to retry."""
    if sqlstate is None or sqlstate.startswith("08") or sqlstate in ("57P01", "57P02", "57P03", "25P02", "25P03"):
        return "connection"  # the connection is gone, going, or in a state we did not put it in: start afresh
    if sqlstate == "57014":
        return "timeout" if "statement timeout" in message else "retry"  # else cancelled by an administrator
    if sqlstate in ("55P03", "40001", "40P01") or sqlstate.startswith("53"):
        return "retry"  # lock timeout, serialization/deadlock, out of memory/disk/connections
    return "invalid"


def _reason(sqlstate: str | None) -> str | None:
    if sqlstate is None:
        return None
    try:
        name = pg_errors.lookup(sqlstate).__name__
    except KeyError:
        return sqlstate
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def error_of(res: pq.abc.PGresult) -> dict[str, Any]:
    """The fields of a server error the verdict needs (message masked: it may quote a DSN)."""
    def field_text(code: pq.DiagnosticField) -> str | None:
        value = res.error_field(code)
        return value.decode("utf-8", "replace") if value is not None else None

    sqlstate = field_text(_F.SQLSTATE)
    message = field_text(_F.MESSAGE_PRIMARY)
    if message is None:
        message = (res.error_message or b"").decode("utf-8", "replace").strip() or "unknown error"
    position = field_text(_F.STATEMENT_POSITION)
    return {"sqlstate": sqlstate, "message": mask(message), "hint": field_text(_F.MESSAGE_HINT),
            "position": int(position) if position and position.isdigit() else None}


def verdict_for(job: ExplainJob, duration: float) -> Verdict | None:
    """The verdict once a statement's results are in; None for a failure worth sending it again."""
    error = job.error
    if error is None:
        if not job.explained:
            return Verdict(job.index, "invalid", error="EXPLAIN returned no plan", reason="no_plan",
                           duration_ms=duration, attempts=job.attempts)
        for line in job.plan or ():
            match = _MODIFY_NODE.match(line)
            if match:
                operation = match.group(1).decode().upper()
                return Verdict(job.index, "invalid", reason="modifies_data", duration_ms=duration,
                               attempts=job.attempts,
                               error=f"the statement would modify data ({operation}); training SQL must be a "
                                     "read-only query")
        return Verdict(job.index, "valid", duration_ms=duration, attempts=job.attempts)
    kind = classify(error["sqlstate"], error["message"])
    if kind == "retry":
        return None
    position = error["position"]
    if position is not None:
        position = position - len(EXPLAIN_PREFIX)
        if position < 1:
            position = None
    reason = "timeout" if kind == "timeout" else _reason(error["sqlstate"])
    if error["sqlstate"] == "42601" and "multiple commands" in error["message"]:
        reason = "multiple_statements"
    return Verdict(job.index, "invalid", error=error["message"], sqlstate=error["sqlstate"], reason=reason,
                   position=position, hint=error["hint"], duration_ms=duration, attempts=job.attempts)
