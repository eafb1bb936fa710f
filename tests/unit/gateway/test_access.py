"""Who may call, decided before any body is read: keys, per-client limits, failed-key throttle,
operator routes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from shared.apikeys import key_digest, new_key
from tests.unit.gateway.conftest import Harness

KEY_A, KEY_OPS = new_key(), new_key()
HASHES = f"alice:{key_digest(KEY_A)},ops:{key_digest(KEY_OPS)}"


def same_minute() -> None:
    """Limits count per clock minute: start a test that counts well inside one."""
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_access_a_request_without_a_key_is_refused_before_its_body_is_read(
    make_harness: Callable[..., Harness],
) -> None:
    harness = make_harness(api_key_hashes=HASHES)
    received: list[dict[str, object]] = []
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        message = {"type": "http.request", "body": b"x" * 1024, "more_body": True}
        received.append(message)
        return message

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/files",
        "raw_path": b"/v1/files",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"multipart/form-data; boundary=x"),
            (b"content-length", b"100000"),
        ],
        "client": ("10.0.0.9", 5000),
        "server": ("127.0.0.1", 8000),
        "scheme": "http",
        "http_version": "1.1",
        "app": harness.app,
    }
    with TestClient(harness.app):  # runs the lifespan: the app's Redis clients exist
        asyncio.run(harness.app.middleware_stack(scope, receive, send))  # type: ignore[misc]
    assert sent[0]["status"] == 401
    assert received == [], "the upload was read before the key was checked"


def test_access_two_authorization_headers_are_refused(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(api_key_hashes=HASHES)
    with TestClient(harness.app) as client:
        headers = [("Authorization", f"Bearer {KEY_A}"), ("Authorization", "Bearer wrong")]
        response = client.get("/v1/models", headers=headers)
    assert response.status_code == 400 and response.json()["error"]["code"] == "ambiguous_credentials"


def test_access_wrong_keys_are_logged_and_then_throttled(
    make_harness: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    harness = make_harness(api_key_hashes=HASHES, failed_keys_per_minute=3)
    same_minute()
    with TestClient(harness.app) as client, caplog.at_level(logging.WARNING, "services.gateway.access"):
        codes = [client.get("/v1/models", headers=bearer(f"ts-guess{n}")).status_code for n in range(3)]
        assert codes == [401, 401, 401]
        throttled = client.get("/v1/models", headers=bearer(KEY_A))
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1
    refusals = [r for r in caplog.records if "refused a request" in r.getMessage()]
    assert len(refusals) == 3 and all("ts-guess" not in r.getMessage() for r in refusals)


def test_access_metrics_are_for_operator_keys_only(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(api_key_hashes=HASHES, operator_keys=["ops"])
    with TestClient(harness.app) as client:
        tenant = client.get("/metrics", headers=bearer(KEY_A))
        operator = client.get("/metrics", headers=bearer(KEY_OPS))
    assert tenant.status_code == 403 and "THINKSTREAM_OPERATOR_KEYS" in tenant.json()["error"]["message"]
    assert operator.status_code == 200


def test_access_keyless_clients_have_a_request_limit(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(client_requests_per_minute=5)
    same_minute()
    with TestClient(harness.app) as client:
        codes = [client.get("/v1/models").status_code for _ in range(6)]
        probe = client.get("/healthz")
    assert codes == [200] * 5 + [429]
    assert probe.status_code == 200, "probes are never limited"


def test_access_a_keyless_gateway_answers_only_its_own_host_names(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(allowed_hosts=[])  # the default: loopback names and its own --host
    with TestClient(harness.app, base_url="http://127.0.0.1:8000") as client:
        assert client.get("/v1/models").status_code == 200
        assert client.get("/v1/models", headers={"Host": "localhost:8000"}).status_code == 200
        assert client.get("/v1/models", headers={"Host": "[::1]:8000"}).status_code == 200
        rebound = client.get("/v1/files", headers={"Host": "rebind.attacker.example"})
        assert rebound.status_code == 400 and rebound.json()["error"]["code"] == "invalid_host"
        assert client.get("/healthz", headers={"Host": "10.1.2.3:8000"}).status_code == 200  # probes


def test_access_a_foreign_page_cannot_change_anything(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(allowed_origins=["https://intranet.example"])
    with TestClient(harness.app) as client:
        upload = {
            "files": {"file": ("x.jsonl", b'{"custom_id": "a", "question": "q"}\n')},
            "data": {"purpose": "batch"},
        }
        foreign = client.post("/v1/files", headers={"Origin": "https://evil.example"}, **upload)
        assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "forbidden_origin"
        assert client.post("/v1/files", headers={"Origin": "http://testserver"}, **upload).status_code == 200
        assert client.post("/v1/files", headers={"Origin": "https://intranet.example"}, **upload).status_code == 200
        assert client.get("/v1/files", headers={"Origin": "https://evil.example"}).status_code == 200  # reading


def test_access_docs_come_from_the_gateway_under_the_page_policy(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "cdn" not in page.text.lower()
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for src in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/static/docs.js"):
        assert src in page.text and client.get(src).status_code == 200
    assert client.get("/redoc").status_code == 404


def test_access_json_answers_are_never_sniffed_and_long_names_are_not_echoed(client: TestClient) -> None:
    assert client.get("/v1/models").headers["x-content-type-options"] == "nosniff"
    body = {"model": "x" * 10_000, "messages": [{"role": "user", "content": "hi"}]}
    refused = client.post("/v1/chat/completions", json=body)
    assert refused.status_code == 404 and refused.headers["x-content-type-options"] == "nosniff"
    assert len(refused.json()["error"]["message"]) < 300
