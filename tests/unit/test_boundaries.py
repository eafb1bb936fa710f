"""The tree's boundaries, as STYLE.md draws them: workers never load the web framework, and
`shared/` is a leaf of the standard library and pydantic."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKER_ENTRYPOINTS = [
    "services.cli.main",
    "services.inference.worker",
    "services.inference.job",
    "services.postproc.worker",
    "services.postproc.job",
    "services.runtime.sweeper",
]
SHARED_MAY_IMPORT = {"pydantic", "pydantic_settings", "shared"}


@pytest.mark.parametrize("module", WORKER_ENTRYPOINTS)
def test_boundaries_a_worker_entrypoint_never_imports_fastapi(module: str) -> None:
    probe = f"import sys, {module}; print(sorted(m for m in ('fastapi', 'starlette', 'uvicorn') if m in sys.modules))"
    found = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]", f"{module} loads {found.stdout.strip()}"


def test_boundaries_shared_imports_only_the_standard_library_and_pydantic() -> None:
    offenders = []
    for path in sorted((ROOT / "shared").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in SHARED_MAY_IMPORT:
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []
