from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from services.runtime.logs import configure_logging
from tests.support.fake_engine import ScriptedEngine
from tests.unit.gateway.conftest import Harness


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    configure_logging("INFO", "json", out)
    yield out
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_worker_lines_of_a_job_carry_its_id(client: TestClient, harness: Harness, log_lines: io.StringIO) -> None:
    job = client.post("/v1/jobs", json={"prompt": "What is 12 times 7?"}).json()
    harness.run_worker(ScriptedEngine(["Twelve sevens are 84.", "</think>", "84"]))

    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    # RQ's own "Job OK" line, once from the inference worker and once from the check worker.
    done = [line for line in lines if "Job OK" in str(line["message"])]
    assert len(done) == 2
    assert [line["job_id"] for line in done] == [job["id"], job["id"]]
    assert all(line["worker"] for line in done)
    assert all(line["job_id"] is None for line in lines if "Listening on" in str(line["message"]))
