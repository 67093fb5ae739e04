"""One schemathesis CLI run over an OpenAPI document, with the URI hooks, and what it did in numbers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOOKS = Path(__file__).resolve().with_name("schemathesis_hooks.py")
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
          "response_headers_conformance")


@dataclass
class RunCounts:
    returncode: int
    stdout: str
    summary: str
    generated: int
    calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def server_errors(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["status"] >= 500]

    @property
    def uri_calls(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["uri"] is not None]

    @property
    def stored_passwords(self) -> list[str]:
        """URIs accepted with a ``password=`` query parameter still in what the task keeps and returns."""
        return [c["stored"] for c in self.uri_calls if "password=" in (c.get("stored") or "").lower()]

    def report(self, label: str) -> str:
        uri_statuses = Counter(c["status"] for c in self.uri_calls)
        return (f"{label}: {self.summary} | calls {len(self.calls)}, 5xx {len(self.server_errors)}, "
                f"URI-shaped db_connection {len(self.uri_calls)} (statuses {dict(sorted(uri_statuses.items()))}, "
                f"kept with a query-string password {len(self.stored_passwords)})")


def run_schemathesis(schema_url: str, base: str, token: str, workdir: Path, *, max_examples: int,
                     seed: int = 20251122, timeout: float = 900, only: tuple[str, str] | None = None,
                     phases: str | None = None, mode: str = "all") -> RunCounts:
    """Run the CLI (one worker: its code generation hits a CPython 3.11 thread-safety bug with several).

    ``only`` (method, path) restricts the run to one operation, ``phases`` and ``mode`` to some phases and
    kinds of data, e.g. many valid generated (fuzzing, positive) bodies of ``POST /tasks``.
    """
    log = workdir / "calls.jsonl"
    workdir.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "SCHEMATHESIS_CALL_LOG": str(log)}
    cmd = [str(Path(sys.executable).parent / "schemathesis"), "run", schema_url, "--url", base,
           "--header", f"Authorization: Bearer {token}", "--max-examples", str(max_examples), "--seed", str(seed),
           "--mode", mode,
           "--checks", CHECKS, "--workers", "1", "--no-color", "--output-truncate", "false",
           "--report", "junit", "--report-junit-path", str(workdir / "junit.xml")]
    if only:
        cmd += ["--include-name", f"{only[0]} {only[1]}"]
    if phases:
        cmd += ["--phases", phases]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=workdir, env=env)
    summary = re.search(r"(\d+) generated, (.*)", result.stdout)
    assert summary, result.stdout[-3000:] + result.stderr[-3000:]
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return RunCounts(result.returncode, result.stdout, summary.group(0), int(summary.group(1)), calls)
