"""``python -m dolphin_publisher``: each command prints one JSON document on stdout.

Exit status 0 on success, 1 on failure (the JSON then carries ``error`` with the server's code and
message when DolphinScheduler refused), 2 on a usage error. Logs go to stderr. Migrations are
applied on first use of the database.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pydantic

from dolphin_publisher.airflow_import import import_dag
from dolphin_publisher.errors import PublisherError, WorkflowValidationError
from dolphin_publisher.models import PublishOperation, ReassignMode, TriggerSource, WorkflowFile
from dolphin_publisher.runtime import Runtime
from platform_db import redact_dsn


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        _emit({"error": {"type": "USAGE_ERROR", "message": message, "usage": self.format_usage().strip()}})
        raise SystemExit(2)


def _emit(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, default=str, indent=2) + "\n")
    sys.stdout.flush()


def _read_file(path: str) -> WorkflowFile:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkflowValidationError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return WorkflowFile.model_validate_json(text)
    except pydantic.ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise WorkflowValidationError(f"{path} is not a valid workflow file: " + "; ".join(problems),
                                      problems=problems) from exc


def _cmd_create(rt: Runtime, args: argparse.Namespace) -> dict[str, Any]:
    return rt.workflows.create(_read_file(args.file), operator=args.operator, trigger=TriggerSource.FILE).to_dict()


def _cmd_update(rt: Runtime, args: argparse.Namespace) -> dict[str, Any]:
    workflow_id = rt.workflows.resolve(args.workflow)
    return rt.workflows.update(workflow_id, _read_file(args.file), operator=args.operator,
                               trigger=TriggerSource.FILE).to_dict()


def _cmd_import_dag(rt: Runtime, args: argparse.Namespace) -> dict[str, Any]:
    return import_dag(rt.workflows, args.dag_id, dags_folder=args.dags_folder, operator=args.operator).to_dict()


def _cmd_publish(rt: Runtime, args: argparse.Namespace) -> dict[str, Any]:
    workflow_id = rt.workflows.resolve(args.workflow)
    with rt.publisher() as publisher:
        outcome = publisher.publish(workflow_id, args.operation, operator=args.operator)
    result = {"workflow_id": workflow_id, **outcome.to_dict()}
    if outcome.error is not None:
        raise _Failed(result)
    return result


def _cmd_start(rt: Runtime, args: argparse.Namespace) -> dict[str, Any]:
    workflow_id = rt.workflows.resolve(args.workflow)
    params = dict(p.split("=", 1) for p in args.param or [])
    with rt.publisher() as publisher:
        return publisher.start(workflow_id, operator=args.operator, params=params or None)


def _cmd_sync(rt: Runtime, args: argparse.Namespace) -> dict[str, Any]:
    with rt.history() as history:
        if args.workflow:
            return history.sync_workflow(rt.workflows.resolve(args.workflow))
        return history.sync_all()


def _cmd_executions(rt: Runtime, args: argparse.Namespace) -> dict[str, Any]:
    workflow_id = rt.workflows.resolve(args.workflow)
    if not args.cached:
        with rt.history() as history:
            history.sync_workflow(workflow_id)
    items = rt.workflows.executions(workflow_id)
    return {"workflow_id": workflow_id, "executions": [i.model_dump(mode="json") for i in items]}


def _cmd_ping(rt: Runtime, args: argparse.Namespace) -> dict[str, Any]:
    config = rt.config()
    with rt.client() as client:
        answer = rt.transport(client).ping()
    return {"ok": True, "rest_base_url": config.rest_base_url, "project_code": config.project_code,
            "transport": config.transport, "source": config.source, "server": answer}


def _cmd_rollback(rt: Runtime, args: argparse.Namespace) -> dict[str, Any]:
    workflow_id = rt.workflows.resolve(args.workflow)
    return rt.versions.rollback(workflow_id, args.version, operator=args.operator,
                                mode=ReassignMode(args.reassign_mode) if args.reassign_mode else None).to_dict()


class _Failed(Exception):
    """A command that has a result to print and must still exit non-zero."""

    def __init__(self, document: dict[str, Any]) -> None:
        super().__init__("failed")
        self.document = document


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m dolphin_publisher",
                     description="Platform workflows and their DolphinScheduler publication")
    parser.add_argument("--environment", help="workflow_integration_config row to use instead of the connection")
    parser.add_argument("--operator", default=None, help="name recorded on versions and publish records")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, handler: Callable[[Runtime, argparse.Namespace], dict[str, Any]],
                help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(handler=handler)
        return p

    command("create", _cmd_create, "create a workflow from a workflow file").add_argument("--file", required=True)
    p = command("update", _cmd_update, "new version of a workflow from a file")
    p.add_argument("workflow")
    p.add_argument("--file", required=True)
    p = command("import-dag", _cmd_import_dag, "create/update a workflow from an Airflow DAG")
    p.add_argument("dag_id")
    p.add_argument("--dags-folder")
    p = command("publish", _cmd_publish, "deploy, online or offline in DolphinScheduler")
    p.add_argument("workflow")
    p.add_argument("--operation", required=True, choices=[o.value for o in PublishOperation])
    p = command("start", _cmd_start, "start an instance")
    p.add_argument("workflow")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="start parameter (repeatable)")
    command("sync", _cmd_sync, "sync recent instances").add_argument("workflow", nargs="?")
    p = command("executions", _cmd_executions, "latest executions of a workflow")
    p.add_argument("workflow")
    p.add_argument("--cached", action="store_true", help="do not sync first")
    command("ping", _cmd_ping, "check the DolphinScheduler connection")
    p = command("rollback", _cmd_rollback, "new version with the content of an older one")
    p.add_argument("workflow")
    p.add_argument("version", type=int)
    p.add_argument("--reassign-mode", choices=[m.value for m in ReassignMode])
    return parser


def main(argv: Sequence[str] | None = None, *, runtime: Runtime | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "start" and any("=" not in p for p in args.param or []):
        _emit({"error": {"type": "USAGE_ERROR", "message": "--param takes NAME=VALUE"}})
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.operator is None:
        try:
            args.operator = f"cli:{getpass.getuser()}"
        except (KeyError, OSError):
            args.operator = "cli"
    try:
        rt = runtime or Runtime(environment=args.environment)
        _emit(args.handler(rt, args))
        return 0
    except _Failed as failed:
        _emit(failed.document)
        return 1
    except PublisherError as exc:
        _emit({"error": exc.to_dict()})
        return 1
    except Exception as exc:  # still one JSON document; the traceback goes to stderr
        logging.getLogger("dolphin_publisher.cli").exception("%s failed", args.command)
        _emit({"error": {"type": "INTERNAL_ERROR", "message": redact_dsn(f"{type(exc).__name__}: {exc}")}})
        return 1
