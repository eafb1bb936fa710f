from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One real stack (redis-server, gateway, one inference worker, one post-processing worker)
    on the embedded SmolLM2 model, shared by the integration tests of a session."""
    with Stack(Path(tmp_path_factory.mktemp("stack"))) as running:
        yield running
