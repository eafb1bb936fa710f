"""Several models behind one gateway, on fakeredis with a scripted engine: routing by `model`
(aliases, `MODEL:ADAPTER`, `lora`), each model's own pool, adapter and conversation affinity
within a model, models only a worker declares, jobs of a model without workers, batches and
metrics per model."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from services.gateway.unserved import UnservedJobs
from services.store.scheduler import PRIORITIES, Scheduler
from shared import keys
from shared.chat_api import ChatCompletionRequest
from shared.conversation import conversation_key
from shared.models import LoraChoice
from shared.schemas import ChatMessage
from shared.settings import embedded_model_path
from tests.support.fake_engine import ScriptedEngine
from tests.unit.gateway.conftest import Harness
from tests.unit.gateway.test_metrics import scrape, value

SCRIPT = ["Two and two.", "</think>", "\n\n", "4"]
MODEL = str(embedded_model_path())
MODELS = [
    {"name": "alpha", "path": MODEL, "aliases": ["a"], "adapters": [{"name": "x", "path": "/x.gguf"}]},
    {"name": "beta", "path": MODEL, "adapters": [{"name": "y", "path": "/y.gguf", "scale": 0.5}]},
]


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    return make_harness(models=MODELS)


@pytest.fixture
def client(harness: Harness) -> Iterator[TestClient]:
    with TestClient(harness.app) as test_client:
        yield test_client


def chat(client: TestClient, model: str | None, **extra: object) -> dict[str, object]:
    body = {"messages": [{"role": "user", "content": "What is 2 + 2?"}], "stream": False, **extra}
    if model is not None:
        body["model"] = model
    return body


def start_chat(client: TestClient, harness: Harness, body: dict[str, object]) -> str:
    """Queue a chat request's job without waiting for its answer."""
    request = ChatCompletionRequest.model_validate(body)
    job = client.portal.call(harness.app.state.chat.start, request)  # type: ignore[union-attr]
    job_id: str = job.accepted.id
    return job_id


def submit(client: TestClient, model: str | None, prompt: str = "What is 2 + 2?") -> str:
    body: dict[str, object] = {"prompt": prompt} if model is None else {"prompt": prompt, "model": model}
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def pool_of(harness: Harness, job_id: str) -> str:
    pool = harness.redis.hget(keys.job_key(job_id), "pool")
    assert pool is not None
    return pool.decode()


def test_models_jobs_go_to_their_models_pool_and_only_its_workers_run_them(
    client: TestClient, harness: Harness
) -> None:
    by_name = {model: submit(client, model) for model in ("beta", "a", None)}
    assert {model: pool_of(harness, job) for model, job in by_name.items()} == {
        "beta": "beta",
        "a": "alpha",
        None: "alpha",  # the first model is the default
    }
    harness.run_worker(ScriptedEngine(SCRIPT), pool="beta")
    statuses = {model: client.get(f"/v1/jobs/{job}").json()["status"] for model, job in by_name.items()}
    assert statuses == {"beta": "succeeded", "a": "queued", None: "queued"}


def test_models_unknown_name_is_404_naming_every_model(client: TestClient) -> None:
    for path, body in (
        ("/v1/jobs", {"prompt": "hi", "model": "gpt-4"}),
        ("/v1/chat/completions", chat(client, "gpt-4")),
    ):
        response = client.post(path, json=body)
        assert response.status_code == 404, response.text
        error = response.json()["error"]
        assert error["code"] == "model_not_found" and "'alpha', 'beta'" in error["message"]
    unknown = client.post("/v1/chat/completions", json=chat(client, "alpha:z")).json()["error"]
    assert unknown["code"] == "model_not_found" and "'alpha:x'" in unknown["message"]


def test_models_listed_with_workers_aliases_and_adapters_and_a_declared_model_is_served(
    client: TestClient, harness: Harness
) -> None:
    harness.declare_worker("w-beta", "beta", adapters=["y"])
    harness.declare_worker("w-gamma", "gamma")  # a model only its worker knows
    cards = {card["id"]: card for card in client.get("/v1/models").json()["data"]}
    assert list(cards) == ["alpha", "a", "alpha:x", "beta", "beta:y", "gamma"]
    assert cards["a"]["parent"] == "alpha" and cards["a"]["workers"] == 0
    assert (cards["alpha"]["workers"], cards["beta"]["workers"], cards["gamma"]["workers"]) == (0, 1, 1)
    assert cards["alpha"]["aliases"] == ["a"] and cards["alpha"]["adapters"] == ["x"]
    assert cards["beta:y"]["parent"] == "beta" and cards["alpha"]["n_ctx"] == 64
    job = submit(client, "gamma")
    assert pool_of(harness, job) == "gamma"


def test_models_adapter_reaches_the_worker_by_name_or_lora(client: TestClient, harness: Harness) -> None:
    requests = [
        chat(client, "alpha:x"),
        chat(client, "alpha", lora=[{"id": 0, "scale": 0.25}]),
        chat(client, "beta", lora=[{"name": "y"}]),
        chat(client, "alpha", lora=[{"id": 0, "scale": 0}]),
        chat(client, "alpha"),
    ]
    for body in requests:
        start_chat(client, harness, body)
    engine = ScriptedEngine(*[SCRIPT] * 5)
    harness.run_worker(engine, pool="alpha")
    harness.run_worker(engine, pool="beta")
    assert engine.adapters == [
        LoraChoice(name="x"),
        LoraChoice(name="x", scale=0.25),
        None,
        None,
        LoraChoice(name="y", scale=0.5),  # the adapter's configured scale
    ]


@pytest.mark.parametrize(
    ("lora", "words"),
    [
        ([{"id": 3}], "no id 3"),
        ([{"name": "y"}], "no 'y'"),
        ([{"id": 0}, {"name": "x", "scale": 0.5}, {"id": 0, "scale": 2}], "one adapter per request"),
        ([{"scale": 1}], "'id' or its 'name'"),
    ],
)
def test_models_bad_lora_is_400_naming_it(client: TestClient, lora: list[dict[str, object]], words: str) -> None:
    response = client.post("/v1/chat/completions", json=chat(client, "alpha", lora=lora))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"].startswith("lora") and words in error["message"]


def test_models_adapter_job_goes_to_an_idle_worker_already_on_that_adapter(
    client: TestClient, harness: Harness
) -> None:
    harness.declare_worker("w-plain", "alpha")
    harness.declare_worker("w-x", "alpha", adapters=["x"], adapter="x@1")
    harness.declare_worker("w-beta-x", "beta", adapters=["x"], adapter="x@1")
    job = start_chat(client, harness, chat(client, "alpha:x"))
    assert harness.redis.hget(keys.job_key(job), "queue") == keys.worker_queue("w-x").encode()
    plain = start_chat(client, harness, chat(client, "alpha"))
    queue = harness.redis.hget(keys.job_key(plain), "queue")
    assert queue is not None and queue.startswith(keys.pool_queue("alpha").encode())


def test_models_conversation_affinity_never_crosses_models(client: TestClient, harness: Harness) -> None:
    harness.declare_worker("w-beta", "beta")
    history = [
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3 + 3?"},
    ]
    key = conversation_key([ChatMessage.model_validate(m) for m in history[:-1]])
    harness.redis.set(keys.conversation_worker_key(key), "w-beta")
    for model, own in (("alpha", False), ("beta", True)):
        response = client.post("/v1/jobs", json={"messages": history, "model": model})
        queue = harness.redis.hget(keys.job_key(response.json()["id"]), "queue")
        assert (queue == keys.worker_queue("w-beta").encode()) is own, model


def test_unserved_jobs_fail_after_the_wait_and_leave_served_models_alone(client: TestClient, harness: Harness) -> None:
    now = [1000.0]
    watch = UnservedJobs(harness.settings, harness.redis, lambda: ["alpha", "beta"], clock=lambda: now[0])
    harness.declare_worker("w-alpha", "alpha")
    served, unserved = submit(client, "alpha"), submit(client, "beta")
    wait_s = harness.settings.model_wait_s
    for job in (served, unserved):  # as if queued when the watch started
        harness.redis.zadd(keys.priority_waiting_key(pool_of(harness, job), "normal"), {job: now[0]})
    now[0] += wait_s / 2
    assert watch.sweep() == []
    now[0] += wait_s
    harness.declare_worker("w-alpha", "alpha")  # still alive
    assert watch.sweep() == [unserved]
    view = client.get(f"/v1/jobs/{unserved}").json()
    assert view["status"] == "failed"
    assert "'beta'" in view["error"] and "THINKSTREAM_MODEL_WAIT_S" in view["error"]
    events = [json.loads(raw) for raw in harness.redis.lrange(keys.job_events_key(unserved), 0, -1)]
    assert events[-1]["type"] == "error" and events[-1]["code"] == "model_unavailable"
    assert Scheduler(harness.redis, harness.settings).waiting("beta") == {p: 0 for p in PRIORITIES}
    assert client.get(f"/v1/jobs/{served}").json()["status"] == "queued"


def test_models_batch_items_run_on_their_own_models(client: TestClient, harness: Harness) -> None:
    lines = [
        {"custom_id": "1", "method": "POST", "url": "/v1/chat/completions", "body": chat(client, "beta")},
        {"custom_id": "2", "method": "POST", "url": "/v1/chat/completions", "body": chat(client, "a")},
        {"custom_id": "3", "method": "POST", "url": "/v1/chat/completions", "body": chat(client, "nope")},
    ]
    content = "".join(json.dumps(line) + "\n" for line in lines).encode()
    refused = client.post("/v1/batches", content=content, headers={"content-type": "application/x-ndjson"})
    assert refused.status_code == 400 and refused.json()["error"]["errors"][0]["code"] == "model_not_found"
    content = "".join(json.dumps(line) + "\n" for line in lines[:2]).encode()
    batch = client.post("/v1/batches", content=content, headers={"content-type": "application/x-ndjson"}).json()
    waiting = Scheduler(harness.redis, harness.settings)
    assert sum(waiting.waiting("beta").values()) == 1 and sum(waiting.waiting("alpha").values()) == 1
    harness.run_worker(ScriptedEngine(SCRIPT, SCRIPT), pool="beta")
    harness.run_worker(ScriptedEngine(SCRIPT, SCRIPT), pool="alpha")
    done = client.get(f"/v1/batches/{batch['id']}").json()
    assert done["status"] == "completed" and done["request_counts"]["completed"] == 2


def test_models_metrics_count_queue_and_workers_per_model(client: TestClient, harness: Harness) -> None:
    harness.declare_worker("w-beta", "beta")
    submit(client, "alpha")
    submit(client, "alpha")
    submit(client, "beta")
    samples = scrape(client)
    assert value(samples, "thinkstream_queue_depth", model="alpha", priority="normal") == 2
    assert value(samples, "thinkstream_queue_depth", model="beta", priority="normal") == 1
    assert value(samples, "thinkstream_model_workers", model="alpha") == 0
    assert value(samples, "thinkstream_model_workers", model="beta") == 1


def test_models_a_request_routes_by_the_directorys_view_without_reading_the_workers(
    client: TestClient, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = harness.app.state.models
    deadline = time.monotonic() + 5
    while directory._view is None and time.monotonic() < deadline:  # the background task's first read
        time.sleep(0.05)
    assert directory._view is not None
    reads = []
    live_workers = directory.live_workers

    async def counted() -> object:
        task = asyncio.current_task()
        if task is None or task.get_coro().__qualname__ != "ModelDirectory.run":  # not the view's own reads
            reads.append(1)
        return await live_workers()

    monkeypatch.setattr(directory, "live_workers", counted)
    assert pool_of(harness, submit(client, "beta")) == "beta"
    assert reads == []  # routed by the view: no read of the heartbeats for the request
    harness.declare_worker("w-delta", "delta")  # a model the view cannot know yet
    assert pool_of(harness, submit(client, "delta")) == "delta"
    assert reads  # found at once, by the live look-up
