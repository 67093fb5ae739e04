"""Task ids: their shape, validation of ids received from outside, and fresh ids.

An id names one task for ever: a deleted task's id is kept in ``data_pipeline_task_tombstones``
(filled by a trigger on every row deletion) and the store never issues it again.
"""

from __future__ import annotations

import re
import secrets
import string
from datetime import datetime

from data_pipeline.errors import InvalidTaskId

# ASCII digits only: ``\d`` would also take fullwidth or Arabic-Indic digits, which name other directories.
TASK_ID_PATTERN = r"^(task|manual|sched)_[0-9]{8}_[0-9]{6}(_[a-z0-9]{1,8})?$"
_TASK_ID_RE = re.compile(TASK_ID_PATTERN, re.ASCII)
PREFIXES = ("task", "manual", "sched")
_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits


def validate_task_id(value: object) -> str:
    """Return ``value`` if it is a well-formed task id, else raise ``InvalidTaskId`` saying why."""
    if not isinstance(value, str):
        raise InvalidTaskId(f"task id must be a string, got {type(value).__name__}")
    if len(value) > 32:
        raise InvalidTaskId(f"task id is too long ({len(value)} characters, at most 32)")
    # fullmatch, not match: ``$`` would accept a trailing newline.
    if not _TASK_ID_RE.fullmatch(value):
        shown = value if value.isprintable() else repr(value)
        raise InvalidTaskId(
            f"invalid task id {shown!r}: expected task_YYYYMMDD_HHMMSS (or manual_/sched_ prefix, "
            "optional _suffix of 1-8 lowercase letters or digits)"
        )
    return value


def base_task_id(prefix: str = "task", now: datetime | None = None) -> str:
    if prefix not in PREFIXES:
        raise ValueError(f"task id prefix must be one of {PREFIXES}, got {prefix!r}")
    return f"{prefix}_{(now or datetime.now()).strftime('%Y%m%d_%H%M%S')}"


def with_random_suffix(base: str, length: int = 4) -> str:
    return f"{base}_{''.join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(length))}"
