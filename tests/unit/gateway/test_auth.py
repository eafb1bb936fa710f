"""API keys on the gateway: who may call, and whose jobs they see."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import fakeredis
import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from services.gateway.app import create_app
from services.gateway.auth import is_loopback, listen_refusal
from shared.apikeys import ApiKeys, key_digest, key_entry, new_key
from shared.exceptions import KeyConfigError
from shared.settings import Settings
from tests.support.fake_engine import ScriptedEngine
from tests.unit.gateway.conftest import Harness, WordCounter

SCRIPT = ["Twelve ", "sevens", " are", " 84.", "</think>", "\n\n", "84"]
KEY_A, KEY_B = new_key(), new_key()
HASHES = f"alice:{key_digest(KEY_A)},bob:{key_digest(KEY_B)}"
A = {"Authorization": f"Bearer {KEY_A}"}
B = {"Authorization": f"Bearer {KEY_B}"}
QUESTION = {"prompt": "What is 12 times 7?"}


@pytest.fixture
def keyed(make_harness: Callable[..., Harness]) -> Harness:
    # Some tests go through every route without a key: more than the default throttle allows.
    return make_harness(api_key_hashes=HASHES, failed_keys_per_minute=100)


@pytest.fixture
def keyed_client(keyed: Harness) -> Iterator[TestClient]:
    with TestClient(keyed.app) as test_client:
        yield test_client


def submit(client: TestClient, headers: dict[str, str]) -> str:
    response = client.post("/v1/jobs", json=QUESTION, headers=headers)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def test_auth_missing_key_is_401_in_openai_shape(keyed_client: TestClient) -> None:
    response = keyed_client.post("/v1/jobs", json=QUESTION)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_api_key")
    assert "Authorization: Bearer" in error["message"]


@pytest.mark.parametrize(
    "header",
    [f"Bearer {new_key()}", f"Bearer {KEY_A}x", f"Basic {KEY_A}", KEY_A, "Bearer ", f"bearer {KEY_A[:-1]}"],
    ids=["unknown", "suffixed", "basic", "no-scheme", "empty", "truncated"],
)
def test_auth_wrong_key_is_401_without_echoing_it(keyed_client: TestClient, header: str) -> None:
    response = keyed_client.get("/v1/models", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert KEY_A not in response.text


def test_auth_every_route_but_health_and_page_needs_a_key(keyed_client: TestClient, keyed: Harness) -> None:
    """Every operation of the API, including those added by later work (read from the app's own
    OpenAPI document). The page's files, not in it, are open: see the next test."""
    operations: list[tuple[str, str]] = []
    for path, methods in keyed.app.openapi()["paths"].items():
        operations += [(method.upper(), path) for method in methods if path not in ("/healthz", "/readyz")]
    for method, path in operations:
        response = keyed_client.request(method, re.sub(r"\{[^}]+\}", "x", path))
        assert response.status_code == 401, (method, path, response.text)
    checked = {path for _, path in operations}
    assert {"/metrics", "/v1/models", "/v1/jobs", "/v1/jobs/{job_id}/events", "/v1/chat/completions"} <= checked


def test_auth_page_files_load_without_a_key(keyed_client: TestClient) -> None:
    """The page holds no data; it must load so that it can ask for the key."""
    for path in ("/", "/static/app.js", "/static/key.js", "/static/style.css", "/static/favicon.svg"):
        response = keyed_client.get(path)
        assert response.status_code == 200, (path, response.text)
        assert "script-src 'self'" in response.headers["content-security-policy"]
    assert keyed_client.get("/static/missing.js").status_code == 404
    assert keyed_client.get("/static/..%2Fapp.py").status_code == 404
    # A key sent along changes nothing, not even a wrong one.
    assert keyed_client.get("/", headers={"Authorization": f"Bearer {new_key()}"}).status_code == 200


def test_auth_health_probes_stay_open(keyed_client: TestClient, keyed: Harness) -> None:
    keyed.mark_worker_alive()
    assert keyed_client.get("/healthz").status_code == 200
    assert keyed_client.get("/readyz").status_code == 200


def test_auth_no_keys_configured_means_no_key_needed(client: TestClient) -> None:
    assert client.post("/v1/jobs", json=QUESTION).status_code == 202
    assert client.get("/v1/models").status_code == 200


def test_auth_valid_key_passes_and_names_the_request(keyed: Harness) -> None:
    @keyed.app.get("/test/whoami")  # a route added after create_app, as later work adds them
    async def whoami(request: Request) -> dict[str, object]:
        return {"key_id": request.state.key_id}

    with TestClient(keyed.app) as client:
        assert client.get("/test/whoami").status_code == 401
        assert client.get("/test/whoami", headers=A).json() == {"key_id": "alice"}
        assert client.get("/test/whoami", headers=B).json() == {"key_id": "bob"}
        assert client.get("/v1/models", headers=A).status_code == 200


def test_auth_key_id_is_none_when_keys_are_off(harness: Harness) -> None:
    @harness.app.get("/test/whoami")
    async def whoami(request: Request) -> dict[str, object]:
        return {"key_id": request.state.key_id}

    with TestClient(harness.app) as client:
        assert client.get("/test/whoami", headers=A).json() == {"key_id": None}


def test_auth_a_job_is_visible_only_to_its_key(keyed_client: TestClient, keyed: Harness) -> None:
    job_id = submit(keyed_client, A)
    missing = keyed_client.get(f"/v1/jobs/{'f' * 32}", headers=B)
    assert keyed_client.get(f"/v1/jobs/{job_id}", headers=A).status_code == 200
    for method, path in (
        ("GET", f"/v1/jobs/{job_id}"),
        ("GET", f"/v1/jobs/{job_id}/events"),
        ("DELETE", f"/v1/jobs/{job_id}"),
    ):
        other = keyed_client.request(method, path, headers=B)
        assert other.status_code == 404, (method, path)
        # Word for word what a missing job gets: the other key learns nothing about the id.
        assert other.json()["error"] == {**missing.json()["error"], "message": other.json()["error"]["message"]}
        assert other.json()["error"]["message"] == missing.json()["error"]["message"].replace("f" * 32, job_id)
    assert keyed_client.get(f"/v1/jobs/{job_id}", headers=A).json()["status"] == "queued", "B's cancel did nothing"
    keyed.run_worker(ScriptedEngine(SCRIPT))
    assert keyed_client.get(f"/v1/jobs/{job_id}", headers=A).json()["answer"] == "84"


def test_auth_a_chat_completions_job_belongs_to_its_key(keyed_client: TestClient, keyed: Harness) -> None:
    body = {"messages": [{"role": "user", "content": "What is 12 times 7?"}]}
    result: list[object] = []
    thread = threading.Thread(
        target=lambda: result.append(keyed_client.post("/v1/chat/completions", json=body, headers=A)), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while keyed.waiting() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    (job_id,) = keyed.waiting_ids()
    assert keyed_client.get(f"/v1/jobs/{job_id}", headers=B).status_code == 404
    assert keyed_client.get(f"/v1/jobs/{job_id}", headers=A).status_code == 200
    keyed.run_worker(ScriptedEngine(SCRIPT))
    thread.join(10)
    (response,) = result
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert response.json()["thinkstream"]["job_id"] == job_id  # type: ignore[attr-defined]


def test_auth_jobs_from_before_keys_are_shown_to_no_key(tmp_path: Path) -> None:
    """A job stored before keys were turned on has no owner: no key sees it (fail closed)."""
    server = fakeredis.FakeServer()

    def app(hashes: str) -> TestClient:
        settings = Settings(redis_url="redis://fake", data_dir=tmp_path, api_key_hashes=hashes)
        redis = (fakeredis.FakeAsyncRedis(server=server), fakeredis.FakeRedis(server=server))
        app = create_app(settings, redis=redis[0], sync_redis=redis[1], counter=WordCounter())
        return TestClient(app, base_url="http://localhost")  # a name a keyless gateway serves

    with app("") as before:
        job_id = submit(before, {})
    with app(HASHES) as after:
        assert after.get(f"/v1/jobs/{job_id}", headers=A).status_code == 404


# ---------------------------------------------------------------------------------------------
# Configuration


def test_keys_parse_entries_comments_and_separators() -> None:
    text = f"# team keys\n{key_entry('alice', KEY_A)}  # laptop\n\n{key_entry('bob.ci-1', KEY_B)},\n"
    api_keys = ApiKeys.parse(text, "keys.txt")
    assert set(api_keys.digests) == {"alice", "bob.ci-1"}
    assert api_keys.identify(KEY_A) == "alice" and api_keys.identify(KEY_B) == "bob.ci-1"
    assert api_keys.identify(new_key()) is None
    assert not ApiKeys.parse("# nothing yet\n", "keys.txt")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (f"alice:{KEY_A}", "never the key itself"),
        ("alice", "NAME:SHA256HEX"),
        ("alice:" + "g" * 64, "NAME:SHA256HEX"),
        ("al ice:" + "a" * 64, "NAME:SHA256HEX"),
        ("-alice:" + "a" * 64, "key name"),
        ("alice:" + "a" * 64 + "\nalice:" + "b" * 64, "used twice"),
    ],
    ids=["plain-key", "no-hash", "not-hex", "space", "bad-name", "duplicate"],
)
def test_keys_malformed_entries_stop_the_start(text: str, says: str) -> None:
    with pytest.raises(KeyConfigError, match=says):
        ApiKeys.parse(text, "THINKSTREAM_API_KEY_HASHES")


def test_keys_file_and_variable_are_merged(make_harness: Callable[..., Harness], tmp_path: Path) -> None:
    path = tmp_path / "keys.txt"
    path.write_text(key_entry("alice", KEY_A) + "\n")
    harness = make_harness(api_keys_file=path, api_key_hashes=key_entry("bob", KEY_B))
    assert set(harness.app.state.api_keys.digests) == {"alice", "bob"}
    with pytest.raises(KeyConfigError, match="also defined"):
        make_harness(api_keys_file=path, api_key_hashes=key_entry("alice", KEY_B))
    with pytest.raises(KeyConfigError, match=r"missing\.txt"):
        make_harness(api_keys_file=tmp_path / "missing.txt")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("gateway.intranet", False),
    ],
)
def test_listen_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    refusal = listen_refusal(host, ApiKeys(), allow_no_auth=False)
    assert (refusal is None) is loopback
    assert listen_refusal(host, ApiKeys.parse(HASHES, "x"), allow_no_auth=False) is None
    assert listen_refusal(host, ApiKeys(), allow_no_auth=True) is None


def test_listen_refusal_says_how_to_fix() -> None:
    refusal = listen_refusal("0.0.0.0", ApiKeys(), allow_no_auth=False)
    assert refusal is not None
    for hint in ("thinkstream keys new", "THINKSTREAM_API_KEYS_FILE", "--insecure-no-auth", "127.0.0.1"):
        assert hint in refusal
