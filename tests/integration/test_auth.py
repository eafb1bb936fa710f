"""API keys on a real stack: a gateway process started with two keys' hashes, a real redis-server,
a real worker on the SmolLM2 model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from httpx_sse import connect_sse
from openai import AuthenticationError, OpenAI

from shared.apikeys import key_entry, new_key
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

KEY_A, KEY_B = new_key(), new_key()
QUESTION = {"prompt": "What is 2 + 3?", "max_tokens": 48, "max_reasoning_tokens": 24}


@pytest.fixture(scope="module")
def keyed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    keys_file = tmp_path_factory.mktemp("keys") / "keys.txt"
    keys_file.write_text(key_entry("alice", KEY_A) + "\n")
    env = {"THINKSTREAM_API_KEYS_FILE": str(keys_file), "THINKSTREAM_API_KEY_HASHES": key_entry("bob", KEY_B)}
    with Stack(Path(tmp_path_factory.mktemp("keyed")), env=env) as running:
        yield running


def client(stack: Stack, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=stack.url, headers=headers, timeout=60)


def test_auth_stack_health_is_open_and_the_api_needs_a_key(keyed_stack: Stack) -> None:
    with client(keyed_stack, None) as anonymous:
        assert anonymous.get("/healthz").status_code == 200
        assert anonymous.get("/readyz").status_code == 200
        assert anonymous.get("/").status_code == 200  # the page holds no data; it asks for the key
        for method, path in (("POST", "/v1/jobs"), ("GET", "/v1/models"), ("GET", "/metrics")):
            response = anonymous.request(method, path, json=QUESTION if method == "POST" else None)
            assert response.status_code == 401, (path, response.text)
            assert response.json()["error"]["code"] == "invalid_api_key"
    with client(keyed_stack, new_key()) as stranger:
        assert stranger.get("/v1/models").status_code == 401


def test_auth_stack_a_job_belongs_to_the_key_that_made_it(keyed_stack: Stack) -> None:
    with client(keyed_stack, KEY_A) as alice, client(keyed_stack, KEY_B) as bob:
        job = alice.post("/v1/jobs", json=QUESTION)
        assert job.status_code == 202, job.text
        job_id, events_url = job.json()["id"], job.json()["events_url"]
        with connect_sse(alice, "GET", events_url) as source:
            types = [json.loads(sse.data)["type"] for sse in source.iter_sse() if sse.data]
        assert types[-1] == "done"
        assert alice.get(f"/v1/jobs/{job_id}").json()["status"] == "succeeded"
        for method, path in (("GET", f"/v1/jobs/{job_id}"), ("GET", events_url), ("DELETE", f"/v1/jobs/{job_id}")):
            response = bob.request(method, path)
            assert response.status_code == 404, (method, path)
            assert response.json()["error"]["code"] == "job_not_found"


def test_auth_stack_openai_client_sends_its_key(keyed_stack: Stack) -> None:
    models = OpenAI(base_url=f"{keyed_stack.url}/v1", api_key=KEY_B).models.list()
    assert models.data
    with pytest.raises(AuthenticationError):
        OpenAI(base_url=f"{keyed_stack.url}/v1", api_key="ts-wrong", max_retries=0).models.list()


def test_auth_stack_gateway_refuses_to_listen_openly_without_keys(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "gateway", "--redis-url", "redis://127.0.0.1:1", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0 without API keys" in done.stderr


def cli(stack: Stack, *args: str, key: str | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "THINKSTREAM_API_KEY"}
    if key is not None:
        env["THINKSTREAM_API_KEY"] = key
    command = [sys.executable, "-m", "services.cli", *args, "--url", stack.url]
    return subprocess.run(command, capture_output=True, text=True, timeout=240, env=env, cwd=cwd)


def test_auth_stack_client_commands_send_the_key_from_the_environment(keyed_stack: Stack, tmp_path: Path) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text(json.dumps({"custom_id": "q1", "question": "What is 2 + 3?"}) + "\n")
    out = tmp_path / "answers.jsonl"

    refused = cli(keyed_stack, "ask", "What is 2 + 3?", key=None, cwd=tmp_path)
    assert refused.returncode == 1 and "401" in refused.stdout + refused.stderr
    refused = cli(keyed_stack, "batch", str(questions), "-o", str(out), key=None, cwd=tmp_path)
    assert refused.returncode != 0 and "THINKSTREAM_API_KEY" in refused.stdout + refused.stderr

    asked = cli(keyed_stack, "ask", "What is 2 + 3?", "--max-tokens", "48", key=KEY_A, cwd=tmp_path)
    assert asked.returncode == 0, asked.stdout + asked.stderr
    batch = cli(keyed_stack, "batch", str(questions), "-o", str(out), key=KEY_B, cwd=tmp_path)
    assert batch.returncode == 0, batch.stdout + batch.stderr
    assert json.loads(out.read_text())["custom_id"] == "q1"
    report = tmp_path / "eval.json"
    evaluated = cli(
        keyed_stack, "eval", "--limit", "1", "--modes", "plain", "--max-tokens", "48", "-o", str(report),
        key=KEY_A, cwd=tmp_path,
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    assert json.loads(report.read_text())["modes"][0]["name"] == "plain"
