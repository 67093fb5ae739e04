"""Rules of the codebase that no single feature test would notice breaking: no import cycles, no huge modules."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "import_graph.py"


def _load_import_graph() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


import_graph = _load_import_graph()


@pytest.fixture(scope="module")
def graph() -> dict[str, Any]:
    return import_graph.build_graph()


def test_no_import_cycles(graph: dict[str, Any]) -> None:
    cycles = import_graph.describe_cycles(graph)
    assert not cycles, "Import cycles between modules under include/ and plugins/:\n" + "\n".join(cycles)


def test_no_module_over_the_line_limit(graph: dict[str, Any]) -> None:
    big = [f"{m.path.relative_to(import_graph.PROJECT_ROOT)} ({m.lines} lines)" for m in import_graph.oversized(graph)]
    assert not big, f"Modules over {import_graph.MAX_LINES} lines:\n" + "\n".join(big)


def test_the_graph_covers_the_packages(graph: dict[str, Any]) -> None:
    for name in ("data_pipeline.cli", "data_pipeline.steps.validation", "dolphin_publisher.api",
                 "data_pipeline_airflow.dag_factory", "data_pipeline_plugin"):
        assert name in graph
    assert "data_pipeline.steps.context" in graph["data_pipeline.steps.ddl"].imports


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_detector_sees_function_level_and_submodule_imports(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b\n",                         # `from package import module`
        "pkg/b.py": "def f():\n    from pkg.c import thing\n",      # inside a function
        "pkg/c.py": "import pkg.a\nthing = 1\n",
        "pkg/d.py": "from . import e\n",                            # relative
        "pkg/e.py": "from .d import x\n",
        "pkg/f.py": "import os\nimport json\n",                     # outside the roots: no edge
    })
    graph = import_graph.build_graph([tmp_path])
    assert graph["pkg.a"].imports == {"pkg.b"}
    assert graph["pkg.b"].imports == {"pkg.c"}
    assert graph["pkg.c"].imports == {"pkg.a"}
    assert graph["pkg.f"].imports == set()
    assert import_graph.strongly_connected(graph) == [["pkg.a", "pkg.b", "pkg.c"], ["pkg.d", "pkg.e"]]
    described = import_graph.describe_cycles(graph)
    assert described[0].startswith("pkg.a -> pkg.b -> pkg.c -> pkg.a")
    assert described[1].startswith("pkg.d -> pkg.e -> pkg.d")


def test_detector_ignores_type_checking_imports(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.b import B\n",
        "pkg/b.py": ("from typing import TYPE_CHECKING\nimport typing\nif TYPE_CHECKING:\n    from pkg.a import A\n"
                     "if typing.TYPE_CHECKING:\n    import pkg.a\nelse:\n    from pkg import c\nclass B: ...\n"),
        "pkg/c.py": "",
    })
    graph = import_graph.build_graph([tmp_path])
    assert graph["pkg.b"].imports == {"pkg.c"}
    assert import_graph.strongly_connected(graph) == []


def test_detector_counts_lines(tmp_path: Path) -> None:
    _write(tmp_path, {"pkg/__init__.py": "", "pkg/big.py": "x = 1\n" * 401, "pkg/ok.py": "x = 1\n" * 400})
    graph = import_graph.build_graph([tmp_path])
    assert [m.name for m in import_graph.oversized(graph)] == ["pkg.big"]
