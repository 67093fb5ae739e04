"""The pair-file rewrite of ``sql_validation`` (``modify_original_file``): repaired SQL replaces the invalid
one, what stays invalid is removed.

Order of writes: the backup of the original, then the journal, then the modification log and the
rewrite. After a kill in the middle, the journal lets the next run recognise the rewritten file as
this execution's own work and take the original back from the backup.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from data_pipeline.files.task_dir import atomic_write_bytes, atomic_write_text
from data_pipeline.steps.context import StepContext
from data_pipeline.steps.state import StepState, sha256_file
from data_pipeline.steps.validation_pairs import content_sha256
from data_pipeline.steps.validation_report import json_lines_array, one_line


def backup_path(pair_path: Path) -> Path:
    """``<pair file>.backup``: the original, kept before the rewrite."""
    return pair_path.with_name(pair_path.name + ".backup")


def original_content(state: StepState, pair_path: Path, current: bytes) -> tuple[bytes, bool]:
    """The input of this execution: the file as found, or, when an unfinished execution had already
    rewritten it, the original kept in the backup (recognised through the rewrite journal)."""
    info = state.load()
    journal_path = state.root / "rewrite.json"
    if info is None or info.finished or not journal_path.is_file():
        return current, False
    try:
        journal = json.loads(journal_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return current, False
    if journal.get("pair_file") != pair_path.name or journal.get("rewritten_sha256") != content_sha256(current):
        return current, False
    backup = backup_path(pair_path)
    if backup.is_file() and not backup.is_symlink():
        original = backup.read_bytes()
        if content_sha256(original) == journal.get("original_sha256"):
            return original, True
    return current, False


def plan_changes(rows: list[dict[str, Any]], pairs: list[dict[str, Any]], modify: bool,
                 totals: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The pairs after the rewrite and the changes made; sets each row's ``action`` and, when the file is
    to be modified, the ``modified``/``removed`` totals."""
    new_pairs: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for row, pair in zip(rows, pairs, strict=True):
        repair = row.get("repair") or {}
        if row["status"] != "invalid" or row.get("unfinished"):
            row["action"] = "kept"
            new_pairs.append(pair)
        elif repair.get("status") == "repaired":
            row["action"] = "replaced"
            new_pairs.append({**pair, "sql": repair["sql"]})
            changes.append({"kind": "modified", "row": row, "new": repair["sql"]})
        else:
            row["action"] = "removed"
            changes.append({"kind": "removed", "row": row})
        if not modify:
            row["action"] = "kept"
    if modify:
        totals["modified"] = sum(1 for c in changes if c["kind"] == "modified")
        totals["removed"] = sum(1 for c in changes if c["kind"] == "removed")
    return new_pairs, changes


def rewrite_pair_file(ctx: StepContext, state: StepState, pair_path: Path, original: bytes, total: int,
                      new_pairs: list[dict[str, Any]], changes: list[dict[str, Any]], totals: dict[str, Any],
                      stamp: str, rewritten_already: bool) -> list[Path]:
    """Backup, journal, ``file_modifications_<ts>.log`` and the rewritten pair file; the paths written."""
    outputs: list[Path] = []
    modlog = ctx.task_dir / f"file_modifications_{stamp}.log"
    backup = backup_path(pair_path)
    if changes:
        _write_backup(ctx, backup, original)
        outputs.append(backup)
    atomic_write_text(modlog, _modifications_text(pair_path.name, backup.name, stamp, changes, total))
    outputs.append(modlog)
    if changes:
        new_text = json_lines_array(new_pairs)
        journal = {"pair_file": pair_path.name, "original_sha256": content_sha256(original),
                   "rewritten_sha256": content_sha256(new_text.encode("utf-8"))}
        atomic_write_text(state.root / "rewrite.json", json.dumps(journal))
        changed = atomic_write_text(pair_path, new_text)
        if changed or rewritten_already:
            ctx.log.info(f"rewrote {pair_path.name}: {totals['modified']} SQL replaced by repairs, "
                         f"{totals['removed']} invalid pairs removed; original kept in {backup.name}")
        outputs.append(pair_path)
    return outputs


def _write_backup(ctx: StepContext, backup: Path, original: bytes) -> None:
    """``<pair>.json.backup`` before the rewrite; a backup of this same original is never rewritten."""
    if backup.is_file() and not backup.is_symlink() and sha256_file(backup) == content_sha256(original):
        return
    if backup.exists() or backup.is_symlink():
        ctx.log.warning(f"replacing {backup.name} left by an earlier execution with the file as this execution "
                        "found it")
    atomic_write_bytes(backup, original)


def _modifications_text(pair_name: str, backup_name: str, stamp: str, changes: list[dict[str, Any]],
                        total: int) -> str:
    modified = [c for c in changes if c["kind"] == "modified"]
    removed = [c for c in changes if c["kind"] == "removed"]
    lines = [
        f"File modifications of {pair_name} (run {stamp})",
        f"original kept in: {backup_name}" if changes else "no changes: every SQL was valid; the file is untouched",
        f"pairs before: {total}, after: {total - len(removed)}; modified: {len(modified)}, removed: {len(removed)}",
        "indexes are positions in the ORIGINAL file (0-based)",
    ]
    for change in changes:
        row = change["row"]
        lines.append("")
        if change["kind"] == "modified":
            lines.append(f"MODIFIED index {row['index']}: {one_line(row['question'])}")
            lines.append(f"  old: {one_line(row['sql'], 2000)}")
            lines.append(f"  new: {one_line(change['new'], 2000)}")
            lines.append(f"  was: [{row['sqlstate'] or '-'}] {one_line(row['error'])}")
        else:
            repair = row.get("repair") or {}
            why = {"still_invalid": "the proposed repair was invalid too", "no_fix": "no repair offered",
                   "failed": "the repair request failed"}.get(repair.get("status"), "repair disabled")
            lines.append(f"REMOVED index {row['index']}: {one_line(row['question'])}")
            lines.append(f"  sql: {one_line(row['sql'], 2000)}")
            lines.append(f"  reason: [{row['sqlstate'] or row['reason'] or '-'}] {one_line(row['error'])} ({why})")
    return "\n".join(lines) + "\n"
