"""EXPLAIN and repair for ``sql_validation``: verdicts saved to the step state in batches, repairs asked of
the generator and checked again.

Invalid SQL is recorded as a verdict; only SQL that could not be checked at all (connection lost past
the retry budget) is a failed item, retried on the next run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from data_pipeline.errors import PipelineError
from data_pipeline.schema.explain_protocol import ValidatorSettings, Verdict
from data_pipeline.schema.sql_validator import SqlValidator
from data_pipeline.steps.context import StepContext
from data_pipeline.steps.state import StepState
from data_pipeline.steps.validation_pairs import context_documents

SAVE_EVERY = 250  # verdicts per state batch file
SAVE_SECONDS = 0.5
LISTED_IN_LOG = 20  # invalid SQL named one by one in the task log


@dataclass(frozen=True)
class RepairItem:
    """What the generator needs to repair one SQL (the ``RepairRequest`` protocol)."""

    sql: str
    error: str
    question: str


class _Saver:
    """Collects verdicts and saves them to the step state in batches (one file per batch)."""

    def __init__(self, ctx: StepContext, state: StepState, total: int, done: int) -> None:
        self.ctx = ctx
        self.state = state
        self.total = total
        self.done = done
        self._batch: list[tuple[str, dict[str, Any]]] = []
        self._since = time.monotonic()  # saved at least every SAVE_SECONDS while verdicts arrive

    def add(self, key: str, data: dict[str, Any]) -> None:
        self._batch.append((key, data))
        self.done += 1
        if len(self._batch) >= SAVE_EVERY or time.monotonic() - self._since >= SAVE_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self._batch:
            self.state.complete_many(self._batch)
            self._batch = []
            self.ctx.progress(self.done, self.total, what="SQL statements")
        self._since = time.monotonic()


def validate_and_repair(ctx: StepContext, state: StepState, pairs: list[dict[str, Any]], keys: list[str],
                         todo: list[int], already: int, generator: Any) -> tuple[int, int, int]:
    """EXPLAIN ``todo`` and, with a generator, repair what is invalid; (validated, repaired, reconnects)."""
    settings = ValidatorSettings(statement_timeout=ctx.params.sql_timeout_seconds,
                                 concurrency=ctx.params.validation_concurrency)
    validator = SqlValidator(lambda: ctx.business_db.connect(application_name="data_pipeline_sql_validation"),
                             settings, describe=ctx.business_db.display, log=ctx.log.warning)
    with validator:
        validated = _validate(ctx, state, pairs, keys, todo, validator, already)
        repaired = _repair(ctx, state, pairs, keys, validator, generator) if generator is not None else 0
        return validated, repaired, validator.reconnects


def pending_indexes(state: StepState, keys: list[str]) -> list[int]:
    """Indexes of pairs whose item is not completed (nor out of attempts)."""
    pending = set(state.pending(keys))
    return [i for i, key in enumerate(keys) if key in pending]


def needs_repair(state: StepState, keys: list[str]) -> list[int]:
    """Indexes of invalid pairs without a repair outcome yet (retried on a resume)."""
    exhausted = set(state.exhausted(keys))
    out = []
    for i, key in enumerate(keys):
        data = state.record(key).data
        if key not in exhausted and data.get("verdict", {}).get("status") == "invalid" and "repair" not in data:
            out.append(i)
    return out


def _validate(ctx: StepContext, state: StepState, pairs: list[dict[str, Any]], keys: list[str], todo: list[int],
              validator: SqlValidator, already: int) -> int:
    if not todo:
        return 0
    saver = _Saver(ctx, state, len(pairs), already)
    listed = 0
    stop: list[str] = []

    def on_verdict(verdict: Verdict) -> None:
        nonlocal listed
        index = todo[verdict.index]
        verdict.index = index
        key = keys[index]
        if verdict.status == "error":
            state.start(key)
            state.fail(key, verdict.error or "not validated")
            ctx.log.warning(f"SQL at index {index} could not be validated: {verdict.error}")
            if not ctx.params.continue_on_error:
                stop.append(f"SQL at index {index} could not be validated: {verdict.error}")
                raise _Stop
            return
        if verdict.status == "invalid" and listed < LISTED_IN_LOG:
            listed += 1
            ctx.log.info(f"invalid SQL at index {index}: {verdict.describe(pairs[index]['sql'])}")
        saver.add(key, {"verdict": verdict.to_dict()})

    try:
        validator.validate([pairs[i]["sql"] for i in todo], on_verdict=on_verdict, on_tick=saver.flush)
    except _Stop:
        raise PipelineError(f"{stop[0]}; stopping because continue_on_error is off") from None
    finally:
        saver.flush()
    return len(todo)


class _Stop(Exception):
    """Raised from a callback to stop validation when an item fails and continue_on_error is off."""


def _repair(ctx: StepContext, state: StepState, pairs: list[dict[str, Any]], keys: list[str],
            validator: SqlValidator, generator: Any) -> int:
    todo = needs_repair(state, keys)
    if not todo:
        return 0
    documents = context_documents(ctx.task_dir)
    ctx.log.info(f"asking {generator.name} to repair {len(todo)} invalid SQL statements in batches of "
                 f"{ctx.params.batch_size} ({len(documents)} DDL/documentation files as context)")
    repaired = 0
    size = ctx.params.batch_size
    for start in range(0, len(todo), size):
        batch = todo[start:start + size]
        verdicts = {i: Verdict.from_dict(state.record(keys[i]).data["verdict"]) for i in batch}
        requests = [RepairItem(sql=pairs[i]["sql"], error=verdicts[i].describe(pairs[i]["sql"]),
                               question=pairs[i]["question"]) for i in batch]
        try:
            answers = list(generator.repair_sql(requests, documents))
        except Exception as exc:  # an LLM outage must not lose the verdicts: the items are retried next time
            message = f"repair request failed: {type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
            ctx.log.warning(f"{message} (SQL at indexes {batch[0]}..{batch[-1]})")
            for i in batch:
                state.start(keys[i])
                state.fail(keys[i], message)
            if not ctx.params.continue_on_error:
                raise PipelineError(f"{message}; stopping because continue_on_error is off") from None
            continue
        answers = (answers + [None] * len(batch))[:len(batch)]
        candidates = [(i, a.strip()) for i, a in zip(batch, answers, strict=True)
                      if isinstance(a, str) and a.strip() and a.strip() != pairs[i]["sql"].strip()]
        checked = validator.validate([sql for _, sql in candidates]) if candidates else []
        fixes = {i: (sql, v) for (i, sql), v in zip(candidates, checked, strict=True)}
        entries: list[tuple[str, dict[str, Any]]] = []
        for i in batch:
            data = {"verdict": verdicts[i].to_dict()}
            if i not in fixes:
                data["repair"] = {"status": "no_fix", "sql": None}
            else:
                sql, verdict = fixes[i]
                if verdict.status == "error":  # the fix could not be checked: retry the item next time
                    state.start(keys[i])
                    state.fail(keys[i], f"the repaired SQL could not be validated: {verdict.error}")
                    continue
                status = "repaired" if verdict.valid else "still_invalid"
                repaired += verdict.valid
                data["repair"] = {"status": status, "sql": sql, "error": verdict.error, "sqlstate": verdict.sqlstate,
                                  "reason": verdict.reason}
                ctx.log.info(f"SQL at index {i}: " + ("repaired" if verdict.valid else
                             f"the proposed repair is still invalid ({verdict.describe(sql)})"))
            entries.append((keys[i], data))
        state.complete_many(entries)
    return repaired
