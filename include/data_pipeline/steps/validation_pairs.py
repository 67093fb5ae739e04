"""The inputs of ``sql_validation`` from the task directory: the newest pair file, parsed strictly, its
per-pair state keys, this execution's file stamp, and the DDL/documentation a repairing LLM reads.

A pair file comes from qa_generation or from a user upload, so every way it can be malformed gets a
message that names the file and the item.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from data_pipeline import clock
from data_pipeline.errors import InvalidInput, NotFound
from data_pipeline.files.task_dir import atomic_write_text
from data_pipeline.steps.state import StepState

STEP = "sql_validation"
PAIR_FILE = re.compile(r"^qs_.+_pair\.json$")
_STAMP_IN_NAME = re.compile(r"_(\d{8}_\d{6})_pair\.json$")
STAMP_FORMAT = "%Y%m%d_%H%M%S"


def find_pair_file(task_dir: Path) -> Path:
    """The newest ``qs_*_pair.json``: by the timestamp in its name, then modification time."""
    candidates = [p for p in task_dir.iterdir() if PAIR_FILE.match(p.name) and p.is_file() and not p.is_symlink()]
    if not candidates:
        raise NotFound(f"no question/SQL pair file (qs_<db>_<timestamp>_pair.json) in the task directory "
                       f"{task_dir.name}; run qa_generation first or upload a pair file")

    def newest(path: Path) -> tuple[str, int, str]:
        match = _STAMP_IN_NAME.search(path.name)
        return (match.group(1) if match else "", path.stat().st_mtime_ns, path.name)

    return max(candidates, key=newest)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__)


def load_pairs(name: str, data: bytes) -> list[dict[str, Any]]:
    """Parse a pair file strictly: a JSON array of objects with string ``question`` and ``sql``."""
    if b"\x00" in data:
        raise InvalidInput(f"{name} is not a text file (it contains NUL bytes); expected a JSON array of "
                           '{"question", "sql"} objects', file=name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{name} is not UTF-8 text (invalid byte at offset {exc.start}); expected a JSON array "
                           'of {"question", "sql"} objects', file=name) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                           file=name) from None
    if not isinstance(doc, list):
        raise InvalidInput(f'{name} must hold a JSON array of {{"question", "sql"}} objects, not a JSON '
                           f"{_json_type(doc)}", file=name)
    for index, item in enumerate(doc):
        if not isinstance(item, dict):
            raise InvalidInput(f'{name}: item at index {index} is a JSON {_json_type(item)}, expected an object '
                               'with "question" and "sql"', file=name, index=index)
        missing = [key for key in ("question", "sql") if key not in item]
        if missing:
            raise InvalidInput(f"{name}: item at index {index} has no " + " and no ".join(f'"{k}"' for k in missing)
                               + " key", file=name, index=index)
        for key in ("question", "sql"):
            if not isinstance(item[key], str):
                raise InvalidInput(f'{name}: item at index {index}: "{key}" must be a string, not a JSON '
                                   f"{_json_type(item[key])}", file=name, index=index)
    return doc


def item_key(index: int, sql: str) -> str:
    """Index plus SQL hash: an edited SQL at the same index is validated again."""
    return f"{index}:{hashlib.sha256(sql.encode('utf-8')).hexdigest()[:16]}"


def content_sha256(data: bytes) -> str:
    """Identifies a pair file's content in the fingerprint and the rewrite journal."""
    return hashlib.sha256(data).hexdigest()


def run_stamp(state: StepState, resumed: bool) -> str:
    """``<ts>`` of this execution's file names; the same across a resume of the same scope."""
    path = state.root / "run.json"
    if resumed:
        try:
            stamp = json.loads(path.read_text(encoding="utf-8")).get("stamp")
            if isinstance(stamp, str) and re.fullmatch(r"\d{8}_\d{6}", stamp):
                return stamp
        except (OSError, ValueError):
            pass
    stamp = clock.now().strftime(STAMP_FORMAT)
    atomic_write_text(path, json.dumps({"stamp": stamp}))
    return stamp


def context_documents(task_dir: Path) -> list[str]:
    """DDL and table documentation, the context a repairing LLM needs."""
    docs = []
    for path in sorted(task_dir.iterdir()):
        if (path.suffix == ".ddl" or path.name.endswith("_detail.md")) and path.is_file() and not path.is_symlink():
            docs.append(path.read_text(encoding="utf-8", errors="replace"))
    return docs
