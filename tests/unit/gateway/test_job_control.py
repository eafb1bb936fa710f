"""`POST /v1/jobs/{id}/control` and `POST /v1/chat/completions/{id}/control` on fakeredis with a
scripted engine: "stop thinking now"."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.inference.engine import Sampling
from shared.apikeys import key_digest, new_key
from tests.support.fake_engine import ScriptedEngine
from tests.unit.gateway.conftest import Harness

REASONING = ["Twelve ", "sevens ", "are ", "seven ", "tens ", "and ", "fourteen"]
SCRIPT = [*REASONING, "</think>", "\n\n", "84"]
ANSWER = ["It ", "is ", "84."]


class PressingEngine(ScriptedEngine):
    """Calls `press` just before it hands out its `at`-th token of the first script: a client
    acting while the job generates."""

    def __init__(self, at: int, press: Callable[[], Any], *scripts: Sequence[str]) -> None:
        super().__init__(*scripts)
        self._at, self._press = at, press
        self.pressed: list[Any] = []

    def stream(self, tokens: Sequence[int], sampling: Sampling) -> Iterator[tuple[int, bytes]]:
        for n, item in enumerate(super().stream(tokens, sampling), start=1):
            if n == self._at and not self.pressed:
                self.pressed.append(self._press())
            yield item


def events(client: TestClient, job_id: str) -> list[dict[str, Any]]:
    with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
        return [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]


def text(seen: list[dict[str, Any]], kind: str) -> str:
    return "".join(e["text"] for e in seen if e["type"] == kind)


def submit(client: TestClient, headers: dict[str, str] | None = None, **body: object) -> str:
    response = client.post("/v1/jobs", json={"prompt": "What is 12 times 7?", **body}, headers=headers or {})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def end_reasoning(client: TestClient, path: str, headers: dict[str, str] | None = None) -> Any:
    return client.post(path, json={"action": "end_reasoning"}, headers=headers or {})


@pytest.fixture
def instant(make_harness: Callable[..., Harness]) -> Harness:
    """Every token is its own event (no 40 ms batching): what the job has streamed is exact."""
    return make_harness(stream_flush_ms=0)


@pytest.fixture
def instant_client(instant: Harness) -> Iterator[TestClient]:
    with TestClient(instant.app) as test_client:
        yield test_client


def test_control_ends_the_reasoning_of_a_running_job_within_one_token(
    instant_client: TestClient, instant: Harness
) -> None:
    job_id = submit(instant_client)
    engine = PressingEngine(3, lambda: end_reasoning(instant_client, f"/v1/jobs/{job_id}/control"), SCRIPT, ANSWER)
    instant.run_worker(engine)
    (response,) = engine.pressed
    assert response.status_code == 202, response.text
    assert response.json() == {"id": job_id, "action": "end_reasoning", "status": "running"}
    seen = events(instant_client, job_id)
    assert text(seen, "reasoning") == "Twelve sevens are"  # the rest never came
    assert text(seen, "answer") == "It is 84."
    view = instant_client.get(f"/v1/jobs/{job_id}").json()
    assert view["reasoning_end"] == "requested" and view["status"] == "succeeded"
    assert view["usage"]["reasoning_tokens"] == 3


def test_control_of_a_queued_job_answers_without_reasoning(client: TestClient, harness: Harness) -> None:
    job_id = submit(client)
    response = end_reasoning(client, f"/v1/jobs/{job_id}/control")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    harness.run_worker(ScriptedEngine(ANSWER))
    view = client.get(f"/v1/jobs/{job_id}").json()
    assert (view["reasoning"], view["answer"], view["reasoning_end"]) == ("", "It is 84.", "requested")


def test_control_of_a_finished_job_is_409(client: TestClient, harness: Harness) -> None:
    job_id = submit(client)
    harness.run_worker(ScriptedEngine(SCRIPT))
    response = end_reasoning(client, f"/v1/jobs/{job_id}/control")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "job_finished" and "has finished generating (status succeeded)" in error["message"]


def test_control_of_a_job_already_answering_is_409(instant_client: TestClient, instant: Harness) -> None:
    job_id = submit(instant_client)
    script = [*SCRIPT, "."]  # pressed before the "." : "84" has been streamed
    engine = PressingEngine(len(script), lambda: end_reasoning(instant_client, f"/v1/jobs/{job_id}/control"), script)
    instant.run_worker(engine)
    (response,) = engine.pressed
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "reasoning_over"
    assert "already answering" in response.json()["error"]["message"]
    assert instant_client.get(f"/v1/jobs/{job_id}").json()["reasoning_end"] == "model"


def test_control_of_a_job_without_reasoning_is_409(client: TestClient) -> None:
    job_id = submit(client, max_reasoning_tokens=0)
    response = end_reasoning(client, f"/v1/jobs/{job_id}/control")
    assert response.status_code == 409 and response.json()["error"]["code"] == "no_reasoning"


@pytest.mark.parametrize("action", ["stop", "cancel", "END_REASONING", ""])
def test_control_unknown_action_is_400_naming_the_actions(client: TestClient, action: str) -> None:
    job_id = submit(client)
    response = client.post(f"/v1/jobs/{job_id}/control", json={"action": action})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "action" and "'end_reasoning'" in error["message"] and "DELETE" in error["message"]
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"


def test_control_without_an_action_is_422(client: TestClient) -> None:
    job_id = submit(client)
    response = client.post(f"/v1/jobs/{job_id}/control", json={})
    assert response.status_code == 422 and "action" in response.json()["error"]["message"]


def test_control_of_an_unknown_job_is_404(client: TestClient) -> None:
    assert end_reasoning(client, f"/v1/jobs/{'e' * 32}/control").status_code == 404
    assert end_reasoning(client, f"/v1/chat/completions/chatcmpl-{'e' * 32}/control").status_code == 404


def test_control_of_another_keys_job_is_404(make_harness: Callable[..., Harness]) -> None:
    key_a, key_b = new_key(), new_key()
    harness = make_harness(api_key_hashes=f"alice:{key_digest(key_a)},bob:{key_digest(key_b)}")
    a, b = {"Authorization": f"Bearer {key_a}"}, {"Authorization": f"Bearer {key_b}"}
    with TestClient(harness.app) as client:
        job_id = submit(client, a)
        missing = end_reasoning(client, f"/v1/jobs/{'f' * 32}/control", b).json()["error"]
        for path in (f"/v1/jobs/{job_id}/control", f"/v1/chat/completions/chatcmpl-{job_id}/control"):
            other = end_reasoning(client, path, b)
            assert other.status_code == 404, path
            assert other.json()["error"]["message"] == missing["message"].replace("f" * 32, job_id)
        harness.run_worker(ScriptedEngine(SCRIPT))
        view = client.get(f"/v1/jobs/{job_id}", headers=a).json()
        assert view["reasoning_end"] == "model", "B's request did nothing"


def test_control_of_a_chat_completion_by_its_id(client: TestClient, harness: Harness) -> None:
    body = {"messages": [{"role": "user", "content": "What is 12 times 7?"}]}
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(client.post("/v1/chat/completions", json=body)))
    thread.start()
    deadline = time.monotonic() + 10
    while harness.waiting() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    (job_id,) = harness.waiting_ids()
    response = end_reasoning(client, f"/v1/chat/completions/chatcmpl-{job_id}/control")
    assert response.status_code == 202
    assert response.json() == {"id": f"chatcmpl-{job_id}", "action": "end_reasoning", "status": "queued"}
    harness.run_worker(ScriptedEngine(ANSWER))
    thread.join(10)
    (completion,) = result
    assert completion.status_code == 200
    message = completion.json()["choices"][0]["message"]
    assert message["content"] == "It is 84." and not message.get("reasoning_content")
    assert completion.json()["thinkstream"]["reasoning_end"] == "requested"
    bad = client.post(f"/v1/chat/completions/chatcmpl-{job_id}/control", json={"action": "pause"})
    assert bad.status_code == 400 and "'end_reasoning'" in bad.json()["error"]["message"]
