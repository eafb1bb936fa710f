"""The request body cap: 413 with the cap in the message, before anything parses the body."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from tests.unit.gateway.conftest import Harness

LIMIT = 4096


@pytest.fixture
def small(make_harness: Callable[..., Harness]) -> Iterator[TestClient]:
    with TestClient(make_harness(max_body_bytes=LIMIT, batch_max_bytes=8 * LIMIT).app) as client:
        yield client


def body_of(size: int) -> bytes:
    """A valid job request of exactly `size` bytes."""
    head = b'{"prompt": "'
    return head + b"a" * (size - len(head) - 2) + b'"}'


def chunks(data: bytes, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def assert_too_large(response: object) -> None:
    assert response.status_code == 413, response.text  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert (error["type"], error["code"], error["limit_bytes"]) == ("invalid_request_error", "request_too_large", LIMIT)
    assert f"{LIMIT} bytes" in error["message"] and "THINKSTREAM_MAX_BODY_BYTES" in error["message"]


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/chat/completions"])
def test_body_limit_announced_length_is_refused_unread(small: TestClient, path: str) -> None:
    assert_too_large(small.post(path, content=body_of(LIMIT + 1), headers={"content-type": "application/json"}))


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/chat/completions"])
def test_body_limit_chunked_body_is_counted(small: TestClient, path: str) -> None:
    response = small.post(path, content=chunks(body_of(3 * LIMIT)), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_too_large(response)


def test_body_limit_at_the_limit_passes(small: TestClient) -> None:
    headers = {"content-type": "application/json"}
    assert small.post("/v1/jobs", content=body_of(LIMIT), headers=headers).status_code == 202
    assert small.post("/v1/jobs", content=chunks(body_of(LIMIT)), headers=headers).status_code == 202


def test_body_limit_lets_batch_files_be_larger(small: TestClient) -> None:
    upload = small.post("/v1/files", files={"file": ("in.jsonl", b"{}\n" * LIMIT)}, data={"purpose": "batch"})
    assert upload.status_code != 413 or upload.json()["error"]["code"] != "request_too_large"


def test_body_limit_a_megabyte_of_emoji_is_refused_never_a_server_error(client: TestClient) -> None:
    """1 MB of emoji: past the 1 MiB body cap as JSON escapes or raw UTF-8 (413); under it, past
    the prompt's 100,000 characters (422)."""
    emoji = "\U0001f600" * 262_144  # 1 MiB of UTF-8
    for ensure_ascii in (True, False):
        body = json.dumps({"prompt": emoji}, ensure_ascii=ensure_ascii).encode()
        response = client.post("/v1/jobs", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
    fewer = json.dumps({"prompt": "\U0001f600" * 100_001}, ensure_ascii=False).encode()
    response = client.post("/v1/jobs", content=fewer, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "prompt: String should have at most 100000 characters"
