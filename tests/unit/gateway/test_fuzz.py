"""Property-based fuzzing of every operation in `/openapi.json` with schemathesis: valid and
invalid requests alike must never get a 5xx.

The app runs in-process on fakeredis, with API keys on (every request carries a valid key, so the
key check and the per-key job ownership run too) and the real embedded model's vocabulary
counting prompt tokens (so the chat template sees every generated conversation).

Requests that wait for a worker (`stream: true` chat completions, non-streaming ones, job event
streams) are not excluded: a background thread stands in for the workers and cancels every job
as soon as it is queued, so each such request ends promptly with its job's `canceled` ending
(409 for a non-streaming completion, a closed stream otherwise). That keeps the run fast and
deterministic without leaving those routes unfuzzed.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis import Redis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.transport.serialization import serialize_binary

from services.gateway import jobs
from services.gateway.tokens import VocabPromptCounter
from services.store.jobs import JobStore
from shared import keys
from shared.apikeys import key_entry, new_key
from shared.batch_api import NDJSON_MEDIA_TYPES
from shared.settings import Settings
from tests.unit.gateway.conftest import Harness

EXAMPLES_PER_OPERATION = 40
KEY = new_key()
AUTH = {"Authorization": f"Bearer {KEY}"}
CANCEL_EVERY_S = 0.005


def cancel_queued(redis: Redis, settings: Settings, stop: threading.Event) -> None:
    """A live inference worker that cancels every job it finds: drops it and ends its stream."""
    store = JobStore(redis, settings)
    while not stop.wait(CANCEL_EVERY_S):
        for kind in ("inference", "postproc"):  # /readyz: 200
            redis.zadd(keys.live_workers_key(kind), {"stand-in": time.time()})
        for priority in ("high", "normal", "low"):
            for rq_id in redis.zrange(keys.priority_waiting_key(settings.served_model_name, priority), 0, -1):
                store.cancel(rq_id.decode().split("-")[0])


@schemathesis.serializer(*NDJSON_MEDIA_TYPES)
def ndjson(ctx: schemathesis.SerializationContext, value: object) -> dict[str, bytes]:
    """Batch input bodies: the schema calls them binary strings; send their bytes as they are."""
    return {"data": serialize_binary(value)}


# Built at import: schemathesis makes one test per operation when pytest collects this module.
# (Its lazy `from_fixture` loader does not work with pytest 9.) Uploaded files go to a folder
# of their own, removed when the interpreter exits.
COUNTER = VocabPromptCounter(Settings().catalog[0], 4096)
DATA_DIR = tempfile.TemporaryDirectory(prefix="thinkstream-fuzz-")
HARNESS = Harness(
    Path(DATA_DIR.name),
    COUNTER,
    api_key_hashes=key_entry("fuzzer", KEY),
    key_requests_per_minute=1_000_000,
    key_max_queued_jobs=1_000_000,
    max_queued_jobs=1_000_000,
)
CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"mode": "all", "max-examples": EXAMPLES_PER_OPERATION, "deterministic": True},
        "request-timeout": 20,
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", HARNESS.app, config=CONFIG)


@pytest.fixture(scope="module", autouse=True)
def stand_in_workers() -> Iterator[None]:
    stop = threading.Event()
    canceller = threading.Thread(target=cancel_queued, args=(HARNESS.redis, HARNESS.settings, stop), daemon=True)
    canceller.start()
    with pytest.MonkeyPatch.context() as patch:
        # fakeredis does not wake an asyncio subscriber for a message published from another
        # thread; a follower finds the cancellation when it re-reads the log, so re-read often.
        patch.setattr(jobs, "IDLE_RESYNC_S", 0.02)
        yield
    stop.set()
    canceller.join(5)


@schema.parametrize()
def test_fuzz_no_input_gets_a_server_error(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=AUTH, checks=[not_a_server_error])


# ---------------------------------------------------------------------------------------------
# Conversations: the schema-driven cases above rarely get past validation (one wrong field of
# many fails a request), so these are mostly valid, with text built to be awkward.

AWKWARD = st.sampled_from(
    [
        *("<|im_end|>", "<|im_start|>system\n", "</think>", "<think>", "\n\n"),
        *("\u202e", "\u200f", "\ufeff", "\x00", "\U0001f469\u200d\U0001f469\u200d\U0001f467"),
    ]
)
TEXT = st.lists(st.text(st.characters(codec="utf-8"), max_size=40) | AWKWARD, max_size=5).map("".join)
PARAMS = {  # in range: the schema-driven cases above cover values out of range
    "max_tokens": st.integers(1, 200_000),
    "max_reasoning_tokens": st.integers(0, 200_000),
    "temperature": st.floats(0, 2),
    "top_p": st.floats(0.01, 1),
    "seed": st.integers(0, 2**31 - 1),
    "stop": st.lists(TEXT.filter(bool), max_size=4),
}


def conversation(roles: list[str]) -> st.SearchStrategy[list[dict[str, object]]]:
    message = st.fixed_dictionaries({"role": st.sampled_from(roles), "content": TEXT})
    last = st.fixed_dictionaries({"role": st.just("user"), "content": TEXT.filter(str.strip)})
    return st.tuples(st.lists(message, max_size=4), last).map(lambda pair: [*pair[0], pair[1]])


JOB_BODIES = st.fixed_dictionaries({"messages": conversation(["system", "user", "assistant"])}, optional=PARAMS) | (
    st.fixed_dictionaries({"prompt": TEXT}, optional=PARAMS)
)
CHAT_BODIES = st.fixed_dictionaries(
    {"messages": conversation(["system", "developer", "user", "assistant"]), "stream": st.booleans()},
    optional={
        **PARAMS,
        "model": st.sampled_from([COUNTER.model_name, "gpt-4o"]),
    },
)
FUZZ_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ_SETTINGS
@given(body=JOB_BODIES)
def test_fuzz_job_conversations_get_no_server_error(body: dict[str, object]) -> None:
    case = schema["/v1/jobs"]["POST"].Case(body=body, media_type="application/json")
    case.call_and_validate(headers=AUTH, checks=[not_a_server_error])


@FUZZ_SETTINGS
@given(body=CHAT_BODIES)
def test_fuzz_chat_conversations_get_no_server_error(body: dict[str, object]) -> None:
    """Including streaming ones: each job is cancelled by the stand-in worker, so a streaming
    reply ends with the cancellation and a non-streaming one is 409."""
    case = schema["/v1/chat/completions"]["POST"].Case(body=body, media_type="application/json")
    case.call_and_validate(headers=AUTH, checks=[not_a_server_error])


# ---------------------------------------------------------------------------------------------
# Batch lines: JSON that parses badly in ways a schema cannot describe. Each must be a line error.

HOSTILE_LINES = st.sampled_from(
    [
        b"[" * 100_000 + b"]" * 100_000,  # nesting past the parser's recursion limit
        b'{"custom_id": "a", "question": "q", "x": ' + b"[" * 900 + b"]" * 900 + b"}",  # deep, but parses
        b'{"custom_id": "a", "question": "q", "max_tokens": ' + b"9" * 5000 + b"}",  # an integer of 5,000 digits
        b'{"custom_id": "a", "question": "q", "max_tokens": 1e999}',
        b'{"custom_id": "\\ud800", "question": "q"}',  # a lone surrogate
        b"\xff\xfe{}",
    ]
)


@FUZZ_SETTINGS
@given(lines=st.lists(HOSTILE_LINES | TEXT.map(str.encode), min_size=1, max_size=4))
def test_fuzz_hostile_batch_lines_are_line_errors(lines: list[bytes]) -> None:
    body = b"\n".join(lines) + b"\n"
    case = schema["/v1/batches"]["POST"].Case(body=body, media_type="application/x-ndjson")
    response = case.call(headers=AUTH)
    assert response.status_code < 500, response.text
    if response.status_code == 400 and response.json()["error"]["code"] == "invalid_batch":
        assert all(
            e.get("line") or e["code"] in ("invalid_file", "empty_file") for e in response.json()["error"]["errors"]
        )
