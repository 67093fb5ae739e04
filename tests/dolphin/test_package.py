"""Package boundaries: importable without Airflow being loaded, and independent of data_pipeline."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import dolphin_publisher


def test_no_airflow_or_data_pipeline_at_import_time() -> None:
    modules = sorted(m.name for m in pkgutil.iter_modules(dolphin_publisher.__path__) if m.name != "__main__")
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module('dolphin_publisher.' + name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'airflow', 'data_pipeline', 'py4j'})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout) == []
    assert {"api", "cli", "client", "converter", "cron", "publisher", "history", "airflow_import"} <= set(modules)
