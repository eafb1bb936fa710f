"""Batches against a real stack (redis-server, one inference worker, the real SmolLM2 GGUF): the
official `openai` client's Files + Batches flow, validation, cancel, priority over the batch,
and the resumable `thinkstream batch` command."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from redis import Redis

from shared import keys
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

MODEL = "SmolLM2-135M-Instruct.Q4_1"

SHORT = {"max_tokens": 24, "max_reasoning_tokens": 12}
NDJSON = {"content-type": "application/x-ndjson"}
FINAL = ("completed", "failed", "cancelled", "expired")


@pytest.fixture(scope="module")
def batch_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # The product's liveness deadline, not the test stack's 3 s: on a busy machine a late heartbeat
    # would have the worker's batch item retried, which is not what these tests are about.
    env = {"THINKSTREAM_WORKER_TTL_S": "10"}
    with Stack(Path(tmp_path_factory.mktemp("batches")), workers=1, env=env) as running:
        yield running


def question_lines(count: int, prefix: str = "q", **limits: int) -> list[dict[str, Any]]:
    return [
        {"custom_id": f"{prefix}{i}", "question": f"What is {i} + {i + 2}?", **(limits or SHORT)} for i in range(count)
    ]


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def submit(stack: Stack, lines: list[dict[str, Any]]) -> dict[str, Any]:
    response = httpx.post(f"{stack.url}/v1/batches", content=jsonl(lines), headers=NDJSON, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def wait_batch(stack: Stack, batch_id: str, until: tuple[str, ...] = FINAL, timeout_s: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        batch = httpx.get(f"{stack.url}/v1/batches/{batch_id}", timeout=30).json()
        if batch["status"] in until:
            return batch
        time.sleep(0.3)
    raise AssertionError(f"batch {batch_id} did not reach {until} in {timeout_s} s: {batch}")


def started_at(stack: Stack, job_id: str) -> float | None:
    with Redis.from_url(stack.redis.url) as redis:
        for raw in redis.lrange(keys.job_events_key(job_id), 0, -1):
            event = json.loads(raw)
            if event["type"] == "started":
                return float(event["ts"])
    return None


def item_job_ids(stack: Stack, batch_id: str) -> list[str]:
    """The batch's job ids in input order (read from the stored record)."""
    with Redis.from_url(stack.redis.url) as redis:
        record = json.loads(redis.hget(keys.batch_key(batch_id), "record"))
    return [item["job"]["id"] for item in record["items"]]


def test_openai_client_runs_a_ten_line_batch_answering_each_custom_id_once(batch_stack: Stack) -> None:
    lines = [
        {
            "custom_id": f"req-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"messages": [{"role": "user", "content": f"What is {i} times 3?"}], **SHORT},
        }
        for i in range(10)
    ]
    with openai.OpenAI(base_url=f"{batch_stack.url}/v1", api_key="unused", timeout=60) as client:
        upload = client.files.create(file=("questions.jsonl", jsonl(lines)), purpose="batch")
        assert upload.purpose == "batch" and upload.bytes == len(jsonl(lines))
        batch = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h")
        assert batch.status == "in_progress" and batch.request_counts.total == 10
        deadline = time.monotonic() + 240
        while batch.status not in FINAL and time.monotonic() < deadline:
            time.sleep(0.5)
            batch = client.batches.retrieve(batch.id)
        assert batch.status == "completed", batch
        assert (batch.request_counts.completed, batch.request_counts.failed) == (10, 0)
        assert batch.error_file_id is None and batch.output_file_id is not None
        output = client.files.content(batch.output_file_id).text
        # The SDK's own pagination finds it: newest first, with its output file among the files.
        assert batch.id in [listed.id for listed in client.batches.list(limit=2)]
        assert batch.output_file_id in [file.id for file in client.files.list(purpose="batch_output")]
    results = [json.loads(line) for line in output.splitlines()]
    assert [r["custom_id"] for r in results] == [f"req-{i}" for i in range(10)]
    for result in results:
        assert result["error"] is None and result["response"]["status_code"] == 200
        body = result["response"]["body"]
        message = body["choices"][0]["message"]
        assert message["reasoning_content"] and "content" in message
        assert body["check"]["verdict"] in ("pass", "fail", "unsure")
        assert body["usage"]["completion_tokens"] <= SHORT["max_tokens"]


def test_malformed_file_is_rejected_with_line_numbers_before_anything_runs(batch_stack: Stack) -> None:
    good = question_lines(2)
    body = b"".join(
        [
            jsonl(good[:1]),
            b'{"custom_id": "broken", "question": \n',
            jsonl([{"custom_id": "q9", "question": "word " * 5000, "max_tokens": 100}]),
            jsonl(good[1:]),
            jsonl([{"custom_id": "q0", "question": "again"}]),
        ]
    )
    response = httpx.post(f"{batch_stack.url}/v1/batches", content=body, headers=NDJSON, timeout=60)
    assert response.status_code == 400
    error = response.json()["error"]
    assert [(e["line"], e["code"]) for e in error["errors"]] == [
        (2, "invalid_json"),
        (3, "context_length_exceeded"),
        (5, "duplicate_custom_id"),
    ]
    assert "line 2" in error["message"]
    with Redis.from_url(batch_stack.redis.url) as redis:
        assert redis.zcard(keys.priority_waiting_key(MODEL, "low")) == 0
    # OpenAI's flow: the batch is created `failed`, its errors name the lines.
    with openai.OpenAI(base_url=f"{batch_stack.url}/v1", api_key="unused") as client:
        upload = client.files.create(file=("bad.jsonl", body), purpose="batch")
        batch = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.status == "failed" and batch.errors is not None
    assert [e.line for e in batch.errors.data] == [2, 3, 5]


def test_cancel_mid_batch_keeps_answers_and_drops_the_rest(batch_stack: Stack) -> None:
    batch = submit(batch_stack, question_lines(6, prefix="c", max_tokens=48, max_reasoning_tokens=24))
    deadline = time.monotonic() + 120
    while httpx.get(f"{batch_stack.url}/v1/batches/{batch['id']}").json()["request_counts"]["completed"] < 1:
        assert time.monotonic() < deadline, "no item finished"
        time.sleep(0.2)
    cancelled = httpx.post(f"{batch_stack.url}/v1/batches/{batch['id']}/cancel", timeout=30).json()
    assert cancelled["status"] in ("cancelling", "cancelled") and cancelled["cancelling_at"]
    final = wait_batch(batch_stack, batch["id"], timeout_s=60)
    assert final["status"] == "cancelled"
    completed = final["request_counts"]["completed"]
    assert 1 <= completed < 6
    output = httpx.get(f"{batch_stack.url}/v1/files/{final['output_file_id']}/content").text.splitlines()
    errors = httpx.get(f"{batch_stack.url}/v1/files/{final['error_file_id']}/content").text.splitlines()
    assert len(output) == completed and len(output) + len(errors) == 6
    assert {json.loads(line)["error"]["code"] for line in errors} == {"batch_cancelled"}
    never_ran = [job for job in item_job_ids(batch_stack, batch["id"]) if started_at(batch_stack, job) is None]
    assert len(never_ran) >= 2  # queued items were dropped, not run
    with Redis.from_url(batch_stack.redis.url) as redis:
        assert redis.zcard(keys.priority_waiting_key(MODEL, "low")) == 0


def test_interactive_job_is_served_before_the_remaining_batch_items(batch_stack: Stack) -> None:
    batch = submit(batch_stack, question_lines(5, prefix="p", max_tokens=32, max_reasoning_tokens=16))
    jobs = item_job_ids(batch_stack, batch["id"])
    deadline = time.monotonic() + 60
    while started_at(batch_stack, jobs[0]) is None:
        assert time.monotonic() < deadline, "the batch did not start"
        time.sleep(0.05)
    asked_at = time.time()
    reply: list[httpx.Response] = []
    chat = {"messages": [{"role": "user", "content": "Say hello."}], **SHORT}
    thread = threading.Thread(
        target=lambda: reply.append(httpx.post(f"{batch_stack.url}/v1/chat/completions", json=chat, timeout=120))
    )
    thread.start()
    wait_batch(batch_stack, batch["id"])
    thread.join(60)
    assert reply and reply[0].status_code == 200, reply
    interactive = started_at(batch_stack, reply[0].json()["thinkstream"]["job_id"])
    assert interactive is not None
    waiting = [t for job in jobs if (t := started_at(batch_stack, job)) is not None and t > asked_at]
    assert len(waiting) >= 2, "too few batch items were still queued for the test to mean anything"
    assert interactive < min(waiting)  # it went ahead of every batch item still waiting


def run_cli(stack: Stack, source: Path, output: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "batch", str(source), "-o", str(output), "--url", stack.url,
         "--poll-s", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def wait_lines(path: Path, count: int, process: subprocess.Popen[str], timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while not (path.exists() and len(path.read_text().splitlines()) >= count):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} did not get {count} lines"
        time.sleep(0.1)


def output_ids(path: Path) -> list[str]:
    return [json.loads(line)["custom_id"] for line in path.read_text().splitlines()]


def test_cli_resumes_after_ctrl_c_without_asking_twice(batch_stack: Stack, tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(jsonl(question_lines(8, prefix="r")))
    first = run_cli(batch_stack, source, output)
    wait_lines(output, 2, first)
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=60)
    assert first.returncode == 130, err
    answered = output_ids(output)
    assert 2 <= len(answered) < 8 and len(set(answered)) == len(answered)
    assert not output.with_name("out.jsonl.batch").exists()  # the batch was cancelled and finished

    second = run_cli(batch_stack, source, output)
    out, err = second.communicate(timeout=240)
    assert second.returncode == 0, err
    assert f"{8 - len(answered)} request(s) submitted ({len(answered)} already in" in err
    ids = output_ids(output)
    assert sorted(ids) == sorted(f"r{i}" for i in range(8)) and ids[: len(answered)] == answered
    assert "answered now" in out and "check verdicts" in out and "total time" in out


def test_cli_picks_up_its_batch_after_being_killed(batch_stack: Stack, tmp_path: Path) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_bytes(jsonl(question_lines(5, prefix="k")))
    first = run_cli(batch_stack, source, output)
    wait_lines(output, 1, first)
    first.kill()  # no chance to cancel: the batch goes on without it
    first.communicate()
    marker = output.with_name("out.jsonl.batch")
    batch_id = marker.read_text().strip()

    second = run_cli(batch_stack, source, output)
    _, err = second.communicate(timeout=240)
    assert second.returncode == 0, err
    assert f"picking up batch {batch_id}" in err and "submitted" not in err  # nothing asked twice
    assert sorted(output_ids(output)) == [f"k{i}" for i in range(5)]
    assert not marker.exists()
