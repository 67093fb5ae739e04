"""Property-based run over both OpenAPI documents against the real api-server.

Schemathesis generates requests (valid and invalid) for every operation; every response must be
documented, match its schema and never be a server error. At least 500 requests per app.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.conftest import LiveAirflow

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
          "response_headers_conformance")


@pytest.mark.parametrize("prefix", ["/api/v0/data_pipeline", "/api/v1"])
def test_generated_requests_get_documented_non_5xx_answers(live: LiveAirflow, tmp_path: Path, prefix: str) -> None:
    base = f"{live.base_url}{prefix}"
    cmd = [str(Path(sys.executable).parent / "schemathesis"), "run", f"{base}/openapi.json", "--url", base,
           "--header", f"Authorization: Bearer {live.admin_token}", "--max-examples", "12", "--seed", "20251122",
           "--checks", CHECKS, "--workers", "2", "--no-color", "--output-truncate", "false",
           "--report", "junit", "--report-junit-path", str(tmp_path / "junit.xml")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    summary = re.search(r"(\d+) generated, (.*)", result.stdout)
    assert summary, result.stdout[-3000:]
    generated = int(summary.group(1))
    print(f"\n{prefix}: {summary.group(0)}")
    assert result.returncode == 0, result.stdout[-6000:]
    assert generated >= 500, summary.group(0)
