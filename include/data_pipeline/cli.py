"""``python -m data_pipeline``: the stable command line. Each command prints JSON."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data_pipeline.errors import PipelineError
from data_pipeline.steps import registry


def _print(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()


def optional_step(value: str) -> str | None:
    """``--step-name`` of prepare/finalize: empty means none (DolphinScheduler passes ``${step_name}`` as is)."""
    if not value.strip():
        return None
    if not registry.is_step(value):
        raise argparse.ArgumentTypeError(f"invalid step {value!r} (choose from {', '.join(registry.step_names())})")
    return value


def _numbered_steps() -> str:
    return ", ".join(f"{number} {name}" for number, name in registry.step_numbers().items())


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The schema-workflow options, shared by ``run`` and ``python -m data_pipeline.schema_workflow``."""
    db = parser.add_mutually_exclusive_group()
    db.add_argument("--db-connection", help="business database URI (postgresql://user:pass@host:port/db)")
    db.add_argument("--db-conn-id", help="Airflow connection id of the business database")
    needing = " or ".join(s.name for s in registry.all_steps() if s.needs_table_list)
    parser.add_argument("--table-list", type=Path, help=f"table list file (needed when {needing} runs)")
    parser.add_argument("--business-context", default="",
                        help="what the business is about (used in prompts); required unless --task-id names an "
                             "existing task")
    parser.add_argument("--output-dir", type=Path, help="data directory (or the output folder with --no-db-tracking)")
    parser.add_argument("--task-id", help="existing task id; without it a manual_... task is created")
    parser.add_argument("--execution-mode", choices=["complete", "step", "single"], default="complete")
    parser.add_argument("--step-name", choices=registry.step_names(), help="the step to run in step mode")
    parser.add_argument("--single-step", type=int, choices=sorted(registry.step_numbers()),
                        help=f"step number (step mode): {_numbered_steps()}")
    parser.add_argument("--skip-validation", action="store_true", help="do not run sql_validation")
    parser.add_argument("--disable-llm-repair", action="store_true", help="do not ask the LLM to repair SQL")
    parser.add_argument("--no-modify-file", action="store_true", help="leave the pair file unchanged in step 3")
    parser.add_argument("--skip-training-load", action="store_true", help="do not run training_load")
    parser.add_argument("--no-db-tracking", action="store_true", help="no task store: outputs go to --output-dir")
    parser.add_argument("--backup-vector-tables", action="store_true", help="back up vector tables before loading")
    parser.add_argument("--truncate-vector-tables", action="store_true",
                        help="empty the vector tables before loading (implies a backup)")
    parser.add_argument("--batch-size", type=int, default=None, help="tables per ddl batch / pairs per batch")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m data_pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the schema workflow (complete or one step)")
    add_run_arguments(run)

    sub.add_parser("init-db", help="create or upgrade the task-store tables")

    demo = sub.add_parser("demo-db", help="create the demo business database (highway service areas)")
    demo.add_argument("--uri", help="build into this database instead of the embedded server's highway_demo")

    backup = sub.add_parser("backup", help="back up a task directory's files into file_bak_*")
    backup.add_argument("task_dir", type=Path)

    restore = sub.add_parser("restore", help="restore a file_bak_* backup (current files backed up first)")
    restore.add_argument("task_dir", type=Path)
    restore.add_argument("backup_name")

    delete = sub.add_parser("delete", help="delete task directories (and records)")
    delete.add_argument("task_ids", nargs="+")
    delete.add_argument("--force", action="store_true", help="delete even if the task is running")
    delete.add_argument("--delete-database-records", action="store_true")
    delete.add_argument("--yes", action="store_true", help="confirm the deletion (required)")

    for name, helptext in (("prepare", "prepare a task for a run (directory, config, status)"),
                           ("finalize", "register outputs and set the final status of a task")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--task-id", required=True)
        p.add_argument("--execution-mode", choices=["complete", "step"], default="complete")
        p.add_argument("--step-name", type=optional_step, nargs="?", const=None, metavar="STEP",
                       help=f"step mode: one of {', '.join(registry.step_names())}; empty or absent: none")

    st = sub.add_parser("step", help="run one step of a prepared task (what an orchestrator task runs)")
    st.add_argument("--task-id", required=True)
    st.add_argument("--step-name", required=True, choices=registry.step_names())

    bt = sub.add_parser("backup-task", help="the backup step of a run (complete mode only)")
    bt.add_argument("--task-id", required=True)
    bt.add_argument("--execution-mode", choices=["complete", "step"], default="complete")

    re = sub.add_parser("reembed", help="rewrite stored vectors with the configured embedder")
    scope = re.add_mutually_exclusive_group(required=True)
    scope.add_argument("--task-id", help="only the rows this task loaded")
    scope.add_argument("--all", action="store_true", help="every row of every collection (incl. client-added rows)")

    db = sub.add_parser("db", help="the embedded PostgreSQL server")
    db.add_argument("action", choices=["start", "stop", "uri", "status"])
    return parser


def _cmd_init_db(args: argparse.Namespace) -> dict[str, Any]:
    from data_pipeline.tasks.store import TaskStore
    from platform_db import redact_dsn

    store = TaskStore()
    applied = store.migrate()
    store.close()
    return {"success": True, "applied_migrations": applied, "database": redact_dsn(store.dsn)}


def _cmd_demo_db(args: argparse.Namespace) -> dict[str, Any]:
    from dataclasses import asdict, is_dataclass

    from data_pipeline.schema import demo_db
    from platform_db import embedded, redact_dsn

    uri = args.uri or embedded.ensure_database(demo_db.DEMO_DATABASE, extensions=())
    summary = demo_db.build_demo_database(uri)
    data = asdict(summary) if is_dataclass(summary) else summary.model_dump()
    return {"success": True, "uri": redact_dsn(uri), **data}


def _cmd_backup(args: argparse.Namespace) -> dict[str, Any]:
    from data_pipeline.files.backup import backup_existing_files

    return {"success": True, **backup_existing_files(args.task_dir.resolve(), task_id=args.task_dir.name).to_dict()}


def _cmd_restore(args: argparse.Namespace) -> dict[str, Any]:
    from data_pipeline.files.backup import restore_backup

    return {"success": True, **restore_backup(args.task_dir.resolve(), args.backup_name, task_id=args.task_dir.name)}


def _cmd_delete(args: argparse.Namespace) -> dict[str, Any]:
    import getpass

    from data_pipeline.files.deletion import delete_tasks
    from data_pipeline.tasks.store import default_store

    result = delete_tasks(
        default_store(), args.task_ids, confirm=args.yes or None, force=args.force,
        delete_database_records=args.delete_database_records, actor=f"cli:{getpass.getuser()}",
    )
    return {"success": not result.failed_tasks, **result.to_dict()}


def _cmd_db(args: argparse.Namespace) -> dict[str, Any]:
    from platform_db import embedded

    if args.action == "stop":
        return {"success": True, "was_running": embedded.stop()}
    if args.action == "status":
        running = (embedded.pgdata_dir() / "postmaster.pid").exists()
        return {"success": True, "running": running, "pgdata": str(embedded.pgdata_dir())}
    return {"success": True, "uri": embedded.server_uri("postgres"), "pgdata": str(embedded.pgdata_dir())}


def _cmd_reembed(args: argparse.Namespace) -> dict[str, Any]:
    from data_pipeline.generation.embedding import make_embedder
    from data_pipeline.vectors.reembed import reembed
    from data_pipeline.vectors.store import vector_dsn

    return reembed(vector_dsn(), make_embedder(), task_id=None if args.all else args.task_id)


def _cmd_run(args: argparse.Namespace) -> dict[str, Any]:
    from data_pipeline.workflow.local_run import run_from_cli

    return run_from_cli(args)


def _cmd_prepare(args: argparse.Namespace) -> dict[str, Any]:
    from data_pipeline.workflow.preparation import prepare_task

    return prepare_task(args.task_id, execution_mode=args.execution_mode, step_name=args.step_name).model_dump()


def _cmd_step(args: argparse.Namespace) -> dict[str, Any]:
    from data_pipeline.workflow.orchestrated import run_step_for_run

    result = run_step_for_run(args.task_id, args.step_name)
    if result is None:
        return {"success": True, "skipped": True, "reason": f"{args.step_name} is not part of this run"}
    return {"success": result["status"] == "completed", **result}


def _cmd_backup_task(args: argparse.Namespace) -> dict[str, Any]:
    from data_pipeline.workflow.preparation import backup_before_run

    if args.execution_mode != "complete":
        return {"success": True, "skipped": True, "reason": "no backup in step mode"}
    return {"success": True, **backup_before_run(args.task_id)}


def _cmd_finalize(args: argparse.Namespace) -> dict[str, Any]:
    from data_pipeline.workflow.finalize import finalize_task

    return finalize_task(args.task_id)


COMMANDS = {
    "run": _cmd_run, "init-db": _cmd_init_db, "demo-db": _cmd_demo_db, "backup": _cmd_backup,
    "restore": _cmd_restore, "delete": _cmd_delete, "db": _cmd_db, "prepare": _cmd_prepare,
    "finalize": _cmd_finalize, "backup-task": _cmd_backup_task,
    "step": _cmd_step, "reembed": _cmd_reembed,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Progress and warnings go to stderr, once configured here; stdout carries only the JSON result.
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)-7s %(message)s")
    try:
        doc = COMMANDS[args.command](args)
    except PipelineError as exc:
        _print({"success": False, "error_code": exc.error_code, "message": exc.message, **exc.details})
        return 2 if exc.http_status < 500 else 1
    _print(doc)
    return 0 if doc.get("success", True) else 1
