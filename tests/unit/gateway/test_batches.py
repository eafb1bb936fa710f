"""`/v1/batches` and `/v1/files` on fakeredis with a scripted engine (the worker runs in the
main thread once the batch is queued)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from fastapi import Request, Response
from fastapi.testclient import TestClient

from shared import keys
from tests.support.fake_engine import ScriptedEngine
from tests.unit.gateway.conftest import Harness

SCRIPT = ["Two ", "and two", " make four.", "</think>", "\n\n", "4"]
NDJSON = {"content-type": "application/x-ndjson"}


@pytest.fixture
def client(harness: Harness) -> Iterator[TestClient]:
    """The test app, with the API key id taken from `x-test-key` as the key check would set it."""

    @harness.app.middleware("http")
    async def key_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request.state.key_id = request.headers.get("x-test-key")
        return await call_next(request)

    with TestClient(harness.app) as test_client:
        yield test_client


def jsonl(*lines: dict[str, Any]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def question(custom_id: str, text: str = "What is 2 + 2?") -> dict[str, Any]:
    return {"custom_id": custom_id, "question": text}


def chat_line(custom_id: str, text: str = "What is 2 + 2?", **body: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": text}]
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"messages": messages, **body},
    }


def test_one_step_batch_answers_every_line_once(client: TestClient, harness: Harness) -> None:
    sent = jsonl(question("q1"), chat_line("q2", max_tokens=20), question("q3", "Is 9 odd?"))
    created = client.post("/v1/batches", content=sent, headers=NDJSON)
    assert created.status_code == 200, created.text
    batch = created.json()
    assert batch["object"] == "batch" and batch["status"] == "in_progress"
    assert batch["request_counts"] == {"total": 3, "completed": 0, "failed": 0}
    assert harness.waiting("low") == 3 and harness.waiting("normal") == 0  # behind people's questions

    harness.run_worker(ScriptedEngine(SCRIPT, SCRIPT, SCRIPT))
    done = client.get(f"/v1/batches/{batch['id']}").json()
    assert done["status"] == "completed" and done["completed_at"] >= done["in_progress_at"]
    assert done["request_counts"] == {"total": 3, "completed": 3, "failed": 0}
    assert done["error_file_id"] is None

    output = client.get(f"/v1/files/{done['output_file_id']}/content")
    lines = [json.loads(line) for line in output.text.splitlines()]
    assert [line["custom_id"] for line in lines] == ["q1", "q2", "q3"]  # input order
    for line in lines:
        assert line["error"] is None and line["response"]["status_code"] == 200
        body = line["response"]["body"]
        assert body["object"] == "chat.completion"
        assert body["choices"][0]["message"] == {
            "role": "assistant",
            "content": "4",
            "reasoning_content": "Two and two make four.",
            "reasoning": "Two and two make four.",
        }
        assert body["check"]["verdict"] in ("pass", "unsure", "fail")
        assert body["thinkstream"]["job_id"] == line["response"]["request_id"]
    input_file = client.get(f"/v1/files/{done['input_file_id']}").json()
    assert input_file["purpose"] == "batch" and input_file["bytes"] == len(sent)
    assert client.get(f"/v1/files/{done['input_file_id']}/content").content == sent


def test_results_page_follows_a_batch_without_repeats(client: TestClient, harness: Harness) -> None:
    batch = client.post("/v1/batches", content=jsonl(question("a"), question("b")), headers=NDJSON).json()
    page = client.get(f"/v1/batches/{batch['id']}/results").json()
    assert page["data"] == [] and page["next_after"] == 0 and page["batch"]["status"] == "in_progress"
    harness.run_worker(ScriptedEngine(SCRIPT, SCRIPT))
    page = client.get(f"/v1/batches/{batch['id']}/results", params={"after": 0}).json()
    assert sorted(r["custom_id"] for r in page["data"]) == ["a", "b"] and page["next_after"] == 2
    assert page["batch"]["status"] == "completed"
    again = client.get(f"/v1/batches/{batch['id']}/results", params={"after": page["next_after"]}).json()
    assert again["data"] == [] and again["next_after"] == 2


def test_invalid_lines_are_refused_by_line_number_and_nothing_runs(client: TestClient, harness: Harness) -> None:
    body = b"\n".join(
        [
            json.dumps(question("ok")).encode(),
            b"{oops",
            json.dumps(chat_line("long", "word " * 80)).encode(),  # 64-token context in the harness
            json.dumps(chat_line("model", model="gpt-4o")).encode(),
            json.dumps(question("ok")).encode(),
        ]
    )
    response = client.post("/v1/batches", content=body, headers=NDJSON)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_batch" and "nothing was run" in error["message"]
    assert [(e["line"], e["code"]) for e in error["errors"]] == [
        (2, "invalid_json"),
        (3, "context_length_exceeded"),
        (4, "model_not_found"),
        (5, "duplicate_custom_id"),
    ]
    assert harness.waiting("low") == 0
    assert not list(harness.redis.scan_iter(f"{keys.PREFIX}:job:*"))


def test_limits_are_settings_with_clear_errors(client: TestClient, harness: Harness) -> None:
    harness.settings.batch_max_lines = 2
    response = client.post("/v1/batches", content=jsonl(*(question(str(i)) for i in range(3))), headers=NDJSON)
    assert response.status_code == 400
    assert response.json()["error"]["errors"][0]["code"] == "too_many_requests"
    harness.settings.batch_max_bytes = 100
    big = jsonl(question("a", "x" * 200))
    response = client.post("/v1/batches", content=big, headers=NDJSON)
    assert response.status_code == 413 and response.json()["error"]["code"] == "file_too_large"
    upload = client.post("/v1/files", files={"file": ("in.jsonl", big)}, data={"purpose": "batch"})
    assert upload.status_code == 413 and "THINKSTREAM_BATCH_MAX_BYTES" in upload.json()["error"]["message"]
    assert client.post("/v1/batches", content=b"x", headers={"content-type": "text/csv"}).status_code == 415


def test_batch_items_do_not_count_against_the_interactive_queue_limit(client: TestClient, harness: Harness) -> None:
    harness.settings.max_queued_jobs = 2
    response = client.post("/v1/batches", content=jsonl(*(question(str(i)) for i in range(4))), headers=NDJSON)
    assert response.status_code == 200
    assert client.post("/v1/jobs", json={"prompt": "hi"}).status_code == 202
    harness.run_worker(ScriptedEngine(*[SCRIPT] * 5))


def test_interactive_job_runs_before_queued_batch_items(client: TestClient, harness: Harness) -> None:
    batch = client.post("/v1/batches", content=jsonl(question("a"), question("b")), headers=NDJSON).json()
    job = client.post("/v1/jobs", json={"prompt": "hi"}).json()
    harness.run_worker(ScriptedEngine(SCRIPT, SCRIPT, SCRIPT))
    lines = client.get(f"/v1/batches/{batch['id']}/results").json()["data"]
    started = {job["id"]: started_at(harness, job["id"])}
    started |= {line["response"]["request_id"]: started_at(harness, line["response"]["request_id"]) for line in lines}
    assert min(started, key=started.__getitem__) == job["id"]


def started_at(harness: Harness, job_id: str) -> float:
    for raw in harness.redis.lrange(keys.job_events_key(job_id), 0, -1):
        event = json.loads(raw)
        if event["type"] == "started":
            return float(event["ts"])
    raise AssertionError(f"job {job_id} never started")


def test_cancel_drops_queued_items(client: TestClient, harness: Harness) -> None:
    batch = client.post("/v1/batches", content=jsonl(question("a"), question("b")), headers=NDJSON).json()
    cancelled = client.post(f"/v1/batches/{batch['id']}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["cancelling_at"] is not None
    assert cancelled["request_counts"] == {"total": 2, "completed": 0, "failed": 0}
    assert harness.waiting("low") == 0
    errors = client.get(f"/v1/files/{cancelled['error_file_id']}/content").text.splitlines()
    assert [json.loads(line)["error"]["code"] for line in errors] == ["batch_cancelled", "batch_cancelled"]
    assert cancelled["output_file_id"] is None
    assert client.post(f"/v1/batches/{batch['id']}/cancel").json()["status"] == "cancelled"


def test_files_flow_and_failed_validation(client: TestClient, harness: Harness) -> None:
    good = client.post("/v1/files", files={"file": ("in.jsonl", jsonl(question("a")))}, data={"purpose": "batch"})
    assert good.status_code == 200, good.text
    assert good.json()["object"] == "file" and good.json()["filename"] == "in.jsonl"
    create = {"input_file_id": good.json()["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    batch = client.post("/v1/batches", json={**create, "metadata": {"run": "1"}}).json()
    assert batch["status"] == "in_progress" and batch["metadata"] == {"run": "1"}
    harness.run_worker(ScriptedEngine(SCRIPT))
    assert client.get(f"/v1/batches/{batch['id']}").json()["request_counts"]["completed"] == 1

    bad = client.post("/v1/files", files={"file": ("bad.jsonl", b'{"custom_id": "a"}\n')}, data={"purpose": "batch"})
    failed = client.post("/v1/batches", json={**create, "input_file_id": bad.json()["id"]}).json()
    assert failed["status"] == "failed" and failed["failed_at"] is not None
    assert failed["errors"]["data"][0]["line"] == 1 and failed["request_counts"]["total"] == 0

    wrong = client.post("/v1/batches", json={**create, "endpoint": "/v1/embeddings"})
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "endpoint"
    assert client.post("/v1/files", files={"file": ("x", b"")}, data={"purpose": "fine-tune"}).status_code == 400
    missing = client.post("/v1/batches", json={**create, "input_file_id": "file-nope"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "file_not_found"


def test_files_and_batches_belong_to_their_key(client: TestClient) -> None:
    mine = {"x-test-key": "key-a"}
    batch = client.post("/v1/batches", content=jsonl(question("a")), headers={**NDJSON, **mine}).json()
    assert client.get(f"/v1/batches/{batch['id']}", headers=mine).status_code == 200
    other = client.get(f"/v1/batches/{batch['id']}", headers={"x-test-key": "key-b"})
    assert other.status_code == 404 and other.json()["error"]["code"] == "batch_not_found"
    assert client.get(f"/v1/batches/{batch['id']}").status_code == 404
    assert client.post(f"/v1/batches/{batch['id']}/cancel", headers={"x-test-key": "key-b"}).status_code == 404
    assert client.get(f"/v1/files/{batch['input_file_id']}/content", headers={"x-test-key": "b"}).status_code == 404
    deleted = client.delete(f"/v1/files/{batch['input_file_id']}", headers=mine).json()
    assert deleted == {"id": batch["input_file_id"], "object": "file", "deleted": True}


def test_an_item_counts_only_once_its_stream_has_ended(client: TestClient, harness: Harness) -> None:
    batch = client.post("/v1/batches", content=jsonl(question("a")), headers=NDJSON).json()
    job_id = harness.waiting_ids("low")[0]
    # The checker sets the status a moment before it appends `done`: not finished yet.
    harness.redis.hset(keys.job_key(job_id), "status", "succeeded")
    seen = client.get(f"/v1/batches/{batch['id']}").json()
    assert seen["status"] == "in_progress" and seen["request_counts"]["completed"] == 0
    harness.run_worker(ScriptedEngine(SCRIPT))
    assert client.get(f"/v1/batches/{batch['id']}").json()["request_counts"]["completed"] == 1


def test_batches_list_newest_first_in_pages_of_the_keys_own(client: TestClient, harness: Harness) -> None:
    mine, theirs = {"x-test-key": "key-a"}, {"x-test-key": "key-b"}
    made = [
        client.post("/v1/batches", content=jsonl(question(f"q{i}")), headers={**NDJSON, **mine}).json()["id"]
        for i in range(5)
    ]
    client.post("/v1/batches", content=jsonl(question("other")), headers={**NDJSON, **theirs})

    first = client.get("/v1/batches", params={"limit": 2}, headers=mine).json()
    assert first["object"] == "list" and [b["id"] for b in first["data"]] == made[:2:-1][:2]
    assert first["has_more"] and first["first_id"] == made[4] and first["last_id"] == made[3]
    rest = client.get("/v1/batches", params={"after": first["last_id"]}, headers=mine).json()
    assert [b["id"] for b in rest["data"]] == made[2::-1] and not rest["has_more"]
    assert rest["data"][0]["status"] == "in_progress" and rest["data"][0]["request_counts"]["total"] == 1

    harness.redis.delete(keys.batch_key(made[3]))  # expired
    assert [b["id"] for b in client.get("/v1/batches", headers=mine).json()["data"]] == made[4:3:-1] + made[2::-1]
    assert len(client.get("/v1/batches", headers=theirs).json()["data"]) == 1
    assert client.get("/v1/batches").json()["data"] == []  # no key: none of the keys' batches

    unknown = client.get("/v1/batches", params={"after": made[0]}, headers=theirs)
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "after"
    assert made[0] in unknown.json()["error"]["message"]
    assert client.get("/v1/batches", params={"limit": 0}, headers=mine).status_code == 400


def test_files_list_by_purpose_and_forget_deleted_ones(client: TestClient, harness: Harness) -> None:
    upload = client.post("/v1/files", files={"file": ("in.jsonl", jsonl(question("a")))}, data={"purpose": "batch"})
    create = {"input_file_id": upload.json()["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    batch = client.post("/v1/batches", json=create).json()
    harness.run_worker(ScriptedEngine(SCRIPT))
    output_id = client.get(f"/v1/batches/{batch['id']}").json()["output_file_id"]

    listed = client.get("/v1/files").json()
    assert [f["id"] for f in listed["data"]] == [output_id, upload.json()["id"]] and not listed["has_more"]
    outputs = client.get("/v1/files", params={"purpose": "batch_output"}).json()["data"]
    assert [f["id"] for f in outputs] == [output_id]
    client.delete(f"/v1/files/{output_id}")
    assert [f["id"] for f in client.get("/v1/files").json()["data"]] == [upload.json()["id"]]
