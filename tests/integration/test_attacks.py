"""The security probe's findings, repeated against a real stack (real redis-server, real workers on
the embedded model), each asserting the fix."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from rq import Queue
from rq.serializers import JSONSerializer

from services.inference.kv_cache import FRESH_TAIL_TOKENS
from shared import keys
from shared.apikeys import key_entry, new_key
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

ALICE, BOB = new_key(), new_key()
TINY = {"max_tokens": 8, "max_reasoning_tokens": 4}
KEY_LIMIT = 64


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {
        "THINKSTREAM_API_KEY_HASHES": f"{key_entry('alice', ALICE)},{key_entry('bob', BOB)}",
        "THINKSTREAM_KEY_MAX_QUEUED_JOBS": str(KEY_LIMIT),
        "THINKSTREAM_KEY_REQUESTS_PER_MINUTE": "100000",
        "THINKSTREAM_KEY_MAX_STREAMS": "3",
        "THINKSTREAM_HEADER_TIMEOUT_S": "2",
    }
    with Stack(Path(tmp_path_factory.mktemp("attacks")), env=env) as stack:
        yield stack


def client(stack: Stack, key: str) -> httpx.Client:
    return httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def test_attack_redis_refuses_a_client_without_the_password(keyed: Stack) -> None:
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(port=keyed.redis.port).ping()
    with keyed.redis.client() as inside, pytest.raises(redis.exceptions.NoPermissionError):
        inside.config_get("*")  # even thinkstream's own user cannot reconfigure the server


def test_attack_a_forged_job_runs_nothing_in_a_worker(keyed: Stack, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with keyed.redis.client() as inside:
        forged = Queue(keys.POSTPROC_QUEUE, connection=inside, serializer=JSONSerializer).enqueue(
            "os.system", f"touch {marker}"
        )
        pickled = Queue(keys.POSTPROC_QUEUE, connection=inside).enqueue("os.system", f"touch {marker}")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and inside.llen(f"rq:queue:{keys.POSTPROC_QUEUE}"):
            time.sleep(0.2)
        time.sleep(1.0)
        assert inside.llen(f"rq:queue:{keys.POSTPROC_QUEUE}") == 0, "the checker never took the forged jobs"
    assert not marker.exists(), "a forged queue entry ran a shell command"
    log = keyed.log("postproc")
    assert forged.id in log and "not a thinkstream task" in log
    assert pickled.id in log
    # The worker is still serving.
    with client(keyed, ALICE) as alice:
        assert alice.get("/readyz").json()["checkers"] >= 1


def test_attack_concurrent_submits_never_pass_the_keys_limit(keyed: Stack) -> None:
    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200)
        headers = {"Authorization": f"Bearer {ALICE}"}
        async with httpx.AsyncClient(base_url=keyed.url, headers=headers, timeout=60, limits=limits) as http:
            return await asyncio.gather(
                *(http.post("/v1/jobs", json={"prompt": f"Say {n}.", **TINY}) for n in range(150))
            )

    answers = asyncio.run(burst())
    codes = [a.status_code for a in answers]
    assert set(codes) <= {202, 429}
    # Admission is one atomic check-and-reserve: never more than the limit waiting, plus the few a
    # worker takes (and so frees) while the burst runs.
    assert KEY_LIMIT <= codes.count(202) <= KEY_LIMIT + 4, codes.count(202)
    with client(keyed, ALICE) as alice:  # the next tests need the queue
        for answer in answers:
            if answer.status_code == 202:
                alice.delete(f"/v1/jobs/{answer.json()['id']}")


def event_at(stack: Stack, job_id: str, kind: str) -> float:
    with stack.redis.client() as inside:
        for raw in inside.lrange(keys.job_events_key(job_id), 0, -1):
            event = json.loads(raw)
            if event["type"] == kind:
                return float(event["ts"])
    raise AssertionError(f"job {job_id} has no {kind} event")


def test_attack_a_flooding_key_delays_another_by_one_job_per_worker(keyed: Stack) -> None:
    with client(keyed, ALICE) as alice, client(keyed, BOB) as bob:
        flood = [alice.post("/v1/jobs", json={"prompt": f"Count to {n}.", **TINY}).json()["id"] for n in range(12)]
        mine = bob.post("/v1/jobs", json={"prompt": "What is 2 + 2?", **TINY}).json()["id"]
        deadline = time.monotonic() + 300
        for job_id, http in [*((j, alice) for j in flood), (mine, bob)]:
            while http.get(f"/v1/jobs/{job_id}").json()["status"] in ("queued", "running", "checking"):
                assert time.monotonic() < deadline, "the jobs did not finish"
                time.sleep(0.2)
    # Bob's question was queued behind Alice's flood; with turns over keys, at most one of hers per
    # worker (one worker here) starts between his submission and his start. (The worker works
    # through her first jobs while she is still submitting; those started before Bob asked.)
    queued, started = event_at(keyed, mine, "queued"), event_at(keyed, mine, "started")
    overtook = [job_id for job_id in flood if queued < event_at(keyed, job_id, "started") < started]
    waiting = [job_id for job_id in flood if event_at(keyed, job_id, "started") > queued]
    assert len(waiting) >= 5, "the flood did not wait: the test shows nothing"
    assert len(overtook) <= 1, f"{len(overtook)} of Alice's jobs started after Bob asked and before him"


def finished(http: httpx.Client, prompt: str) -> dict[str, Any]:
    job_id = http.post("/v1/jobs", json={"prompt": prompt, **TINY}).json()["id"]
    deadline = time.monotonic() + 120
    while (view := http.get(f"/v1/jobs/{job_id}").json())["status"] in ("queued", "running", "checking"):
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.1)
    return view


def test_attack_a_second_key_cannot_read_a_prompt_through_the_kv_cache(keyed: Stack) -> None:
    secret = "Internal memo: the merger with Nordwind closes on 14 March at 41 euros a share. Summarise it."
    # Differs from the first word, so Bob's own earlier job shares nothing with it either.
    wrong = "Summarise: the merger with Sudmark closes on 2 June at 19 euros a share."
    with client(keyed, ALICE) as alice, client(keyed, BOB) as bob:
        finished(alice, secret)
        again = finished(alice, secret)["usage"]
        right_guess = finished(bob, secret)["usage"]
        finished(alice, secret)  # her prompt is what the worker holds again
        wrong_guess = finished(bob, wrong)["usage"]
        bob_again = finished(bob, secret)["usage"]
    # Her own next job reuses her whole prompt but its last two tokens (evaluated together, so
    # the text is the one an uncached prompt gets: kv_cache.FRESH_TAIL_TOKENS).
    assert again["cached_tokens"] == again["prompt_tokens"] - FRESH_TAIL_TOKENS
    # Bob's right guess is served exactly like his wrong one: the template's shared opening only.
    assert right_guess["cached_tokens"] == wrong_guess["cached_tokens"]
    assert right_guess["cached_tokens"] < right_guess["prompt_tokens"] - 20, "it must stop before her text"
    # ...while his own repeat of a prompt he sent reuses it.
    assert bob_again["cached_tokens"] == bob_again["prompt_tokens"] - FRESH_TAIL_TOKENS


def test_attack_stream_caps_and_slow_headers(keyed: Stack) -> None:
    with client(keyed, ALICE) as alice:
        job = alice.post("/v1/jobs", json={"prompt": "Tell a long story.", "max_tokens": 400}).json()
        url = f"{keyed.url}{job['events_url']}"
        headers = {"Authorization": f"Bearer {ALICE}"}
        streams = [httpx.stream("GET", url, headers=headers, timeout=60) for _ in range(3)]
        opened = [s.__enter__() for s in streams]
        try:
            assert all(r.status_code == 200 for r in opened)
            refused = alice.get(job["events_url"])
            assert refused.status_code == 429 and "THINKSTREAM_KEY_MAX_STREAMS" in refused.json()["error"]["message"]
        finally:
            for stream in streams:
                stream.__exit__(None, None, None)
        alice.delete(f"/v1/jobs/{job['id']}")
    # Slowloris: headers a byte at a time are cut off after THINKSTREAM_HEADER_TIMEOUT_S (2 s).
    with socket.create_connection(("127.0.0.1", keyed.port), timeout=10) as sock:
        started = time.monotonic()
        reply = b""
        try:
            for byte in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 40:
                sock.sendall(bytes([byte]))
                time.sleep(0.25)
                sock.settimeout(0.01)
                try:
                    reply += sock.recv(4096)
                    if reply:
                        break
                except TimeoutError:
                    pass
                finally:
                    sock.settimeout(10)
        except (BrokenPipeError, ConnectionResetError):
            pass
        closed_after = time.monotonic() - started
    assert b"408" in reply.split(b"\r\n", 1)[0] or closed_after < 6
    assert closed_after < 6, f"a slow client held its connection for {closed_after:.1f} s"


def test_attack_a_finished_stream_resumed_at_its_end_ends(keyed: Stack) -> None:
    with client(keyed, ALICE) as alice:
        job = alice.post("/v1/jobs", json={"prompt": "What is 1 + 1?", **TINY}).json()
        with alice.stream("GET", job["events_url"]) as stream:
            seqs = [json.loads(line[5:])["seq"] for line in stream.iter_lines() if line.startswith("data:")]
        resumed = alice.get(job["events_url"], headers={"Last-Event-ID": str(seqs[-1])}, timeout=5)
        assert resumed.status_code == 204
        assert alice.get(job["events_url"], params={"after": str(2**64)}).status_code == 400


def test_attack_hostile_batch_lines_are_line_errors(keyed: Stack) -> None:
    lines = [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"custom_id": "a", "question": "q", "max_tokens": ' + b"9" * 5000 + b"}",
    ]
    with client(keyed, ALICE) as alice:
        response = alice.post(
            "/v1/batches", content=b"\n".join(lines) + b"\n", headers={"content-type": "application/x-ndjson"}
        )
    assert response.status_code == 400, response.text
    assert [(e["line"], e["code"]) for e in response.json()["error"]["errors"]] == [
        (1, "invalid_json"),
        (2, "invalid_json"),
    ]


def test_attack_a_keyless_gateway_refuses_foreign_host_names(tmp_path: Path) -> None:
    with Stack(tmp_path) as stack:
        rebound = httpx.get(f"{stack.url}/v1/files", headers={"Host": "rebind.attacker.example"}, timeout=10)
        assert rebound.status_code == 400 and rebound.json()["error"]["code"] == "invalid_host"
        upload = httpx.post(
            f"{stack.url}/v1/files",
            headers={"Origin": "https://evil.example"},
            files={"file": ("x.jsonl", b'{"custom_id": "a", "question": "q"}\n')},
            data={"purpose": "batch"},
            timeout=10,
        )
        assert upload.status_code == 403
        assert httpx.get(f"{stack.url}/v1/models", timeout=10).status_code == 200
