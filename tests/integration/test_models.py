"""Several models on one stack, on real worker processes: the embedded model (with a LoRA adapter
the test writes) and a GGUF with Qwen3's template and tokens, one worker each, plus a configured
model that has no worker. Each request is answered by its own model's worker, counted with its
own vocabulary; an adapter changes the answer and leaves the base model's alone; a model without
a worker fails its jobs after THINKSTREAM_MODEL_WAIT_S, saying why."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis import Redis

from services.gateway.tokens import VocabPromptCounter
from shared import keys
from shared.models import ModelSpec
from shared.schemas import ChatMessage
from shared.settings import embedded_model_path
from tests.support.lora import write_lora
from tests.support.stack import Stack
from tests.support.target_models import TARGETS, write_target_model

pytestmark = pytest.mark.integration

QUESTION = [{"role": "user", "content": "What is 2 + 3?"}]
WAIT_S = 3


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    return {
        "qwen3": write_target_model(TARGETS["qwen3"], folder / "qwen3-test.gguf"),
        "lora": write_lora(folder / "odd-lora.gguf"),
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, model_files: dict[str, Path]) -> Iterator[Stack]:
    models = [
        {
            "name": "smol",
            "path": str(embedded_model_path()),
            "aliases": ["small"],
            "adapters": [{"name": "odd", "path": str(model_files["lora"])}],
        },
        {"name": "qwen3-test", "path": str(model_files["qwen3"]), "n_ctx": 2048},
        {"name": "ghost", "path": str(embedded_model_path()), "workers": 0},
    ]
    env = {"THINKSTREAM_MODELS": json.dumps(models), "THINKSTREAM_MODEL_WAIT_S": str(WAIT_S)}
    with Stack(tmp_path_factory.mktemp("stack"), worker_models=["smol", "qwen3-test"], env=env) as running:
        _wait_for_workers(running, 2)
        yield running


def _wait_for_workers(stack: Stack, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if httpx.get(f"{stack.url}/readyz", timeout=5).json()["workers"] >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"{count} workers did not come up: {stack.log('worker-1')[-2000:]}")


def _ask(stack: Stack, model: str, **extra: object) -> httpx.Response:
    body = {"model": model, "messages": QUESTION, "max_tokens": 24, "max_reasoning_tokens": 0} | extra
    return httpx.post(f"{stack.url}/v1/chat/completions", json=body, timeout=120)


def _worker_model(stack: Stack, job_id: str) -> str:
    """The model of the worker that ran the job, as that worker declares it."""
    job = httpx.get(f"{stack.url}/v1/jobs/{job_id}", timeout=10).json()
    redis = Redis.from_url(stack.redis.url)
    worker = redis.hget(keys.job_key(job_id), "worker")
    assert worker is not None, job
    model = redis.hget(keys.worker_key(worker.decode()), "model")
    assert model is not None
    return str(model.decode())


def test_models_lists_each_model_with_its_workers_context_aliases_and_adapters(stack: Stack) -> None:
    cards = {card["id"]: card for card in httpx.get(f"{stack.url}/v1/models", timeout=10).json()["data"]}
    assert list(cards) == ["smol", "small", "smol:odd", "qwen3-test", "ghost"]
    assert cards["small"]["parent"] == "smol" and cards["small"]["workers"] == 1
    assert cards["smol"]["workers"] == 1 and cards["smol"]["aliases"] == ["small"]
    assert cards["smol"]["adapters"] == ["odd"] and cards["smol:odd"]["parent"] == "smol"
    assert cards["qwen3-test"]["workers"] == 1 and cards["qwen3-test"]["n_ctx"] == 2048
    assert cards["qwen3-test"]["family"] == "qwen3"
    assert cards["ghost"]["workers"] == 0


def test_models_each_request_is_answered_by_its_own_models_worker(stack: Stack, model_files: dict[str, Path]) -> None:
    answers = {name: _ask(stack, name) for name in ("smol", "small", "qwen3-test")}
    for name, response in answers.items():
        assert response.status_code == 200, response.text
        assert response.json()["model"] == name
    ran_on = {name: _worker_model(stack, r.json()["thinkstream"]["job_id"]) for name, r in answers.items()}
    assert ran_on == {"smol": "smol", "small": "smol", "qwen3-test": "qwen3-test"}
    # Each prompt was counted with its own model's vocabulary and template.
    qwen3 = VocabPromptCounter(ModelSpec(name="q", path=model_files["qwen3"]), 2048)
    smol = VocabPromptCounter(ModelSpec(name="s", path=embedded_model_path()), 2048)
    message = [ChatMessage(role="user", content=QUESTION[0]["content"])]
    assert answers["qwen3-test"].json()["usage"]["prompt_tokens"] == qwen3.count(message)
    assert answers["smol"].json()["usage"]["prompt_tokens"] == smol.count(message)
    assert qwen3.count(message) != smol.count(message)


def test_models_unknown_name_is_404_naming_the_models(stack: Stack) -> None:
    response = _ask(stack, "gpt-4")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "model_not_found" and "'smol'" in error["message"] and "'qwen3-test'" in error["message"]
    assert _ask(stack, "smol:nope").json()["error"]["code"] == "model_not_found"


def test_models_known_model_without_worker_fails_after_the_wait_saying_why(stack: Stack) -> None:
    started = time.monotonic()
    response = _ask(stack, "ghost")
    waited_s = time.monotonic() - started
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "model_unavailable"
    assert "'ghost'" in error["message"] and "THINKSTREAM_MODEL_WAIT_S" in error["message"]
    assert WAIT_S <= waited_s < WAIT_S + 10


def test_models_adapter_changes_the_answer_and_the_base_model_stays_the_same(stack: Stack) -> None:
    def answer(model: str, **extra: object) -> str:
        response = _ask(stack, model, max_reasoning_tokens=16, max_tokens=40, **extra)
        assert response.status_code == 200, response.text
        message = response.json()["choices"][0]["message"]
        return f"{message['reasoning_content']}|{message['content']}"

    base = answer("smol")
    adapted = answer("smol:odd")
    assert adapted != base
    assert answer("smol", lora=[{"id": 0, "scale": 1.0}]) == adapted, "llama-server's lora field, same adapter"
    assert answer("smol") == base, "the base model's answer is unchanged after an adapter ran"
    assert answer("smol", lora=[{"id": 0, "scale": 0}]) == base, "scale 0 leaves the adapter off"
