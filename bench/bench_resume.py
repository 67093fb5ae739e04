"""Benchmark: resuming ddl_generation after ``kill -9`` redoes nothing and ends byte-identical.

Runs step 1 on N tables in a subprocess through the stable CLI (``python -m data_pipeline run
--no-db-tracking --execution-mode step --step-name ddl_generation ...``), SIGKILLs it once about half
of the ``.ddl`` files exist, reruns the same command, and compares with an uninterrupted run in
another directory. Reports tables completed before the kill, tables processed by the rerun, tables
redone (completed before the kill but generated again: their per-item state changed — completion
time or attempt count — or their ``.ddl`` was rewritten) and whether every output (``.ddl``,
``_detail.md``, ``filename_mapping.txt``, structure sidecars) is byte-identical. The reference
tool here is the uninterrupted run itself; the LAST line is the key figure, e.g. ``redone=0
identical=True``.

    .venv/bin/python bench/bench_resume.py --tables 1000 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ddl import PROJECT, ensure_built, table_name

from platform_db import embedded, settings


def command(uri: str, table_list: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "data_pipeline", "run", "--no-db-tracking", "--execution-mode", "step",
            "--step-name", "ddl_generation", "--db-connection", uri, "--table-list", str(table_list),
            "--output-dir", str(out), "--business-context", "高速公路服务区"]


def records(task_dir: Path) -> dict[str, dict[str, Any]]:
    """Per-item state of every batch: key -> record (status, attempts, completed_at, outputs)."""
    out = {}
    for path in (task_dir / ".state" / "ddl_generation").glob("batch_*/items/*.json"):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        out[record["key"]] = record
    return out


def outputs(task_dir: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in task_dir.iterdir()
             if p.suffix in (".ddl", ".md") or p.name == "filename_mapping.txt"}
    files |= {f"schema/{p.name}": p.read_bytes() for p in (task_dir / ".state" / "schema").glob("*.json")}
    return files


def run_to_completion(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=PROJECT)
    if proc.returncode != 0:
        raise SystemExit(f"run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t0


def once(uri: str, tables: int, work: Path, kill_fraction: float) -> dict[str, Any]:
    table_list = work / "tables.txt"
    table_list.write_text("".join(f"{table_name(i)}\n" for i in range(tables)))
    reference, task = work / "uninterrupted", work / "killed"
    full_seconds = run_to_completion(command(uri, table_list, reference))

    log = work / "killed_run.log"
    with open(log, "wb") as sink:  # a file, not a pipe nobody reads: the child can never block on output
        proc = subprocess.Popen(command(uri, table_list, task), cwd=PROJECT, stdout=sink, stderr=subprocess.STDOUT)
    target = int(tables * kill_fraction)
    while proc.poll() is None:
        if task.is_dir() and sum(1 for _ in task.glob("*.ddl")) >= target:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    if proc.returncode != -signal.SIGKILL:
        tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise SystemExit(f"the run finished (exit {proc.returncode}) before it could be killed:\n{tail}")
    before = {k: r for k, r in records(task).items() if r["status"] == "completed"}
    mtimes = {k: (task / f"{k.split('.', 1)[1]}.ddl").stat().st_mtime_ns for k in before}
    if (task / "filename_mapping.txt").exists():
        raise SystemExit("filename_mapping.txt exists after the kill: an unfinished step looks complete")

    resume_seconds = run_to_completion(command(uri, table_list, task))
    after = records(task)
    result = json.loads((task / "ddl_generation_result.json").read_text(encoding="utf-8"))
    redone_state = [k for k, r in before.items()
                    if after[k]["completed_at"] != r["completed_at"] or after[k]["attempts"] != r["attempts"]]
    redone_files = [k for k in before if (task / f"{k.split('.', 1)[1]}.ddl").stat().st_mtime_ns != mtimes[k]]
    mine, theirs = outputs(task), outputs(reference)
    differing = sorted(name for name in set(mine) | set(theirs) if mine.get(name) != theirs.get(name))
    return {
        "completed_before_kill": len(before), "processed_by_rerun": result["details"].get("processed"),
        "redone": len(set(redone_state) | set(redone_files)), "identical": not differing,
        "differing_files": differing[:10], "files_compared": len(theirs),
        "full_run_seconds": round(full_seconds, 2), "resumed_run_seconds": round(resume_seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=300, help="rows per table")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--kill-at", type=float, default=0.5, help="fraction of .ddl files present at the kill")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database (reused next time)")
    args = parser.parse_args()
    settings.override(allowed_hosts="*")  # the business databases here are the bench's own

    db_name = f"dp_bench_ddl_{args.tables}"
    uri, built = ensure_built(db_name, args.tables, args.rows)
    if built:
        print(f"built {args.tables} tables x {args.rows} rows")
    runs = []
    try:
        for rep in range(args.repeat):
            work = Path(tempfile.mkdtemp(prefix="bench_resume_"))
            try:
                runs.append(once(uri, args.tables, work, args.kill_at))
            finally:
                shutil.rmtree(work, ignore_errors=True)
            print(f"rep {rep + 1}: {json.dumps(runs[-1], ensure_ascii=False)}", flush=True)
    finally:
        if not args.keep:
            embedded.drop_database(db_name)
    redone = sum(r["redone"] for r in runs)
    identical = all(r["identical"] for r in runs)
    print(f"completed before kill: {[r['completed_before_kill'] for r in runs]}; "
          f"processed by the rerun: {[r['processed_by_rerun'] for r in runs]} (of {args.tables})")
    print(f"redone={redone} identical={identical}")


if __name__ == "__main__":
    main()
