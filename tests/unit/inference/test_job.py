"""A job whose worker is killed goes on from its last streamed token on the next worker: the
stream repeats and takes back nothing, and the job ends with the text of an uninterrupted run.

The scripted model is greedy and deterministic (it writes what its context calls for), so an
uninterrupted run is the reference; a "kill" raises out of the model's stream, past every
handler, and leaves the job as a SIGKILL would (its running-jobs entry in place)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import fakeredis
import pytest

from services.engine.model import ModelInfo
from services.inference.context import InferenceContext
from services.inference.generation import BUDGET_MESSAGE_SEPARATOR, FORCED_CLOSE
from services.inference.job import InferenceJob
from services.store.jobs import JobStore, samples_of
from services.store.queues import Origin
from services.store.records import NewJob
from shared import keys
from shared.schemas import ChatMessage, Finding, GenerationParams, JobSpec
from shared.settings import Settings
from tests.support.fake_engine import ScriptedModel, WorkerKilled

REASONING = ["Two", " and", " two", ":", " count", " them", ",", " one", " two", " three", " four", "."]
ANSWER = ["\n</th", "ink>", "\n\n", "It", " is", " 4", "."]
SCRIPT = REASONING + ANSWER
POOL = "fake"
"""The model the cluster's workers hold."""


@pytest.fixture
def redis() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(redis_url="redis://fake", data_dir=tmp_path, stream_flush_ms=0, **overrides)


def spec(job_id: str, **fields: Any) -> JobSpec:
    return JobSpec(
        job_id=job_id,
        messages=[ChatMessage(role="user", content="What is 2 + 2?")],
        params=GenerationParams(),
        prompt_tokens=9,
        max_tokens=fields.pop("max_tokens", 64),
        max_reasoning_tokens=fields.pop("max_reasoning_tokens", 48),
        created_at=time.time(),
        **fields,
    )


class Cluster:
    """Workers that share one Redis, each with its own copy of the same model."""

    def __init__(
        self,
        redis: fakeredis.FakeRedis,
        tmp_path: Path,
        script: Sequence[str],
        after_close: Sequence[str],
        **overrides: Any,
    ):
        self.redis = redis
        self.settings = settings(tmp_path, **overrides)
        self.store = JobStore(redis, self.settings)
        self.script = list(script)
        self.after_close = list(after_close)
        self.engines: list[ScriptedModel] = []

    def run(
        self,
        job_id: str,
        run: int,
        worker: str,
        kill_after: int | None = None,
        before_token: Callable[[int], None] | None = None,
    ) -> str | None:
        engine = ScriptedModel(self.script, self.after_close, kill_after=kill_after, before_token=before_token)
        self.engines.append(engine)
        context = InferenceContext(
            redis=self.redis,
            engine=engine,
            model=ModelInfo(name=POOL, path=Path("fake.gguf"), n_ctx=4096, n_ctx_train=4096),
            settings=self.settings,
            worker_id=worker,
            store=self.store,
        )
        try:
            return InferenceJob(context, job_id, run).run()
        except WorkerKilled:
            # A SIGKILL runs no `finally`: the job is still listed as this worker's.
            self.redis.hset(keys.RUNNING_JOBS, job_id, worker)
            assert self.store.claim(job_id, worker, f"{worker} was killed") == "retried"
            return None


def events(redis: fakeredis.FakeRedis, job_id: str) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in redis.lrange(keys.job_events_key(job_id), 0, -1)]


def streamed(redis: fakeredis.FakeRedis, job_id: str) -> tuple[str, str]:
    """What a client following the job's stream has read."""
    seen = events(redis, job_id)
    assert [e["seq"] for e in seen] == list(range(1, len(seen) + 1))
    return (
        "".join(e["text"] for e in seen if e["type"] == "reasoning"),
        "".join(e["text"] for e in seen if e["type"] == "answer"),
    )


def reference(tmp_path: Path, job: JobSpec, script: Sequence[str], after_close: Sequence[str] = ()) -> tuple[str, str]:
    """The text of the same job run without a kill, on a Redis of its own."""
    redis = fakeredis.FakeRedis()
    cluster = Cluster(redis, tmp_path, script, after_close)
    cluster.store.submit([NewJob(job)], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    assert cluster.run(job.job_id, 1, "w0") == "stop"
    return streamed(redis, job.job_id)


KILLS = [
    # (tokens each killed worker generated, tokens the next worker found kept)
    pytest.param([3], [3], id="mid-reasoning"),
    # The closing tag and the blank line after it have no text of their own: their ids ride on
    # the next event, so a kill right after them loses them (with 40 ms flushes, a kill loses
    # up to 40 ms of tokens the same way).
    pytest.param([15], [12], id="mid-answer"),
    pytest.param([13], [12], id="inside the closing tag"),
    pytest.param([0], [0], id="before the first token"),
    pytest.param([4, 8], [4, 12], id="twice"),
]


@pytest.mark.parametrize(("kills", "kept"), KILLS)
def test_job_killed_goes_on_from_its_last_streamed_token(
    redis: fakeredis.FakeRedis, tmp_path: Path, kills: list[int], kept: list[int]
) -> None:
    expected = reference(tmp_path, spec("job"), SCRIPT)
    cluster = Cluster(redis, tmp_path, SCRIPT, [])
    cluster.store.submit([NewJob(spec("job"))], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    for run, kill_after in enumerate(kills, start=1):
        assert cluster.run("job", run, f"w{run}", kill_after=kill_after) is None
    assert cluster.run("job", len(kills) + 1, "last") == "stop"

    assert streamed(redis, "job") == expected  # nothing repeated, nothing taken back
    view = cluster.store.view("job")
    assert (view.reasoning, view.answer) == expected and view.attempt == len(kills) + 1
    seen = events(redis, "job")
    resumed = [e for e in seen if e["type"] == "resumed"]
    assert [e["attempt"] for e in resumed] == list(range(2, len(kills) + 2))
    assert [e["type"] for e in seen].count("started") == 1
    assert [e["tokens_kept"] for e in resumed] == kept
    # The last worker was given the prompt and every kept token, and generated only the rest.
    last = cluster.engines[-1]
    streamed_ids = [t for e in seen if e["type"] in ("reasoning", "answer") for t in e["token_ids"]]
    prompt = last.prompt_tokens(spec("job").messages)
    assert last.calls[0] == prompt + streamed_ids[: kept[-1]]
    if kept[-1]:  # evaluated one token at a time, as when they were generated
        assert last.replayed[0] == [[t] for t in streamed_ids[: kept[-1]]]
    assert last.generated == len(SCRIPT) - kept[-1]


def test_job_killed_after_budget_forcing_goes_on_in_the_answer(redis: fakeredis.FakeRedis, tmp_path: Path) -> None:
    script, after_close = ["a", " b", " c", " d", " e"], ["The", " answer", " is", " 4", "."]
    job = spec("job", max_reasoning_tokens=3)
    expected = reference(tmp_path, job, script, after_close)
    assert expected == ("a b c", "The answer is 4.")
    cluster = Cluster(redis, tmp_path, script, after_close)
    cluster.store.submit([NewJob(job)], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    assert cluster.run("job", 1, "w1", kill_after=5) is None  # 3 reasoning tokens, 2 of the answer
    assert cluster.run("job", 2, "w2") == "stop"
    assert streamed(redis, "job") == expected
    assert cluster.store.read("job").result is not None
    result = cluster.store.read("job").result
    assert result is not None and result.reasoning_end == "budget"
    assert (result.usage.reasoning_tokens, result.usage.answer_tokens) == (3, 5)
    assert cluster.engines[-1].generated == 3  # the answer's first two tokens were kept


@pytest.mark.parametrize("kill_after", [2, 3, 5], ids=["before the budget", "at the message", "in the answer"])
def test_job_killed_around_the_budget_message_writes_it_once_and_answers_as_uninterrupted(
    redis: fakeredis.FakeRedis, tmp_path: Path, kill_after: int
) -> None:
    script, after_close = ["a", " b", " c", " d", " e"], ["The", " answer", " is", " 4", "."]
    job = spec("job", max_reasoning_tokens=3, thinking_budget_message="Out of budget.")
    expected = reference(tmp_path, job, script, after_close)
    assert expected == ("a b c" + BUDGET_MESSAGE_SEPARATOR + "Out of budget.", "The answer is 4.")
    cluster = Cluster(redis, tmp_path, script, after_close)
    cluster.store.submit([NewJob(job)], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    assert cluster.run("job", 1, "w1", kill_after=kill_after) is None
    assert cluster.run("job", 2, "w2") == "stop"
    assert streamed(redis, "job") == expected  # the message once, the same answer
    last = cluster.engines[-1]
    if kill_after >= 3:  # the model read the message again before the closing tag, as it was evaluated
        closing = last.text_tokens(BUDGET_MESSAGE_SEPARATOR + "Out of budget.") + last.tokenize(FORCED_CLOSE)
        assert last.replayed[0][2][1:] == closing


def test_job_revision_in_flight_resumes_within_its_own_round(redis: fakeredis.FakeRedis, tmp_path: Path) -> None:
    cluster = Cluster(redis, tmp_path, SCRIPT, [])
    job = spec("job", revise=1)
    cluster.store.submit([NewJob(job)], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    assert cluster.run("job", 1, "w1") == "stop"
    first = streamed(redis, "job")
    revised = job.model_copy(update={"round": 1})
    finding = Finding(check="arithmetic", severity="error", message="2 + 2 is not 5")
    assert cluster.store.revise("job", 1, revised, job, [finding])
    assert cluster.run("job", 2, "w2", kill_after=6) is None
    assert cluster.run("job", 3, "w3") == "stop"

    resumed = next(e for e in events(redis, "job") if e["type"] == "resumed")
    assert resumed["tokens_kept"] == 6  # the revision's own tokens, not the first round's
    view = cluster.store.view("job")
    assert (view.revisions[0].reasoning, view.revisions[0].answer) == first
    assert (view.reasoning, view.answer) == first  # the same model writes the same answer again


def test_job_sample_in_flight_resumes_and_reports_to_its_parent(redis: fakeredis.FakeRedis, tmp_path: Path) -> None:
    cluster = Cluster(redis, tmp_path, SCRIPT, [])
    parent = spec("parent", samples=2)
    children = samples_of(parent, [1, 2], 0.7, ["s0", "s1"])
    cluster.store.submit(
        [NewJob(parent, runs=False, children=["s0", "s1"]), *(NewJob(c) for c in children)],
        owner=None,
        origin=Origin.INTERACTIVE,
        pool=POOL,
    )
    assert cluster.run("s0", 1, "w1", kill_after=9) is None
    assert cluster.run("s0", 2, "w2") == "stop"
    assert streamed(redis, "s0") == reference(tmp_path, spec("ref"), SCRIPT)
    assert [e["type"] for e in events(redis, "s0")].count("resumed") == 1


def test_job_resumed_runs_for_its_owner_after_the_operators_system_prompt(
    redis: fakeredis.FakeRedis, tmp_path: Path
) -> None:
    """The next worker reuses KV state of the job's own API key only, and renders the prompt
    the first worker rendered (the operator's system prompt first)."""
    cluster = Cluster(redis, tmp_path, SCRIPT, [], system_prompt="Be brief.")
    cluster.store.submit([NewJob(spec("job"))], owner="alice", origin=Origin.INTERACTIVE, pool=POOL)
    assert cluster.run("job", 1, "w1", kill_after=5) is None
    assert cluster.run("job", 2, "w2") == "stop"
    first, resumed = cluster.engines
    assert first.owners == resumed.owners == ["alice"]
    assert resumed.prompts == first.prompts
    assert resumed.prompts[0][0] == ChatMessage(role="system", content="Be brief.")
    assert streamed(redis, "job") == reference(tmp_path, spec("ref"), SCRIPT)


# ---------------------------------------------------------------------------------------------
# "Stop thinking now": a client's `end_reasoning` while the job generates.

CONTROL_ANSWER = ["So", " it", " is", " 4", "."]


def test_job_end_reasoning_closes_within_one_token_and_the_answer_follows(
    redis: fakeredis.FakeRedis, tmp_path: Path
) -> None:
    cluster = Cluster(redis, tmp_path, SCRIPT, CONTROL_ANSWER)
    cluster.store.submit([NewJob(spec("job"))], owner=None, origin=Origin.INTERACTIVE, pool=POOL)

    def press(n: int) -> None:
        if n == 4:  # the client asks while the worker generates its 4th token
            cluster.store.control("job", "end_reasoning")

    assert cluster.run("job", 1, "w1", before_token=press) == "stop"
    reasoning, answer = streamed(redis, "job")
    assert reasoning == "".join(REASONING[:4]) and answer == "So it is 4."
    result = cluster.store.read("job").result
    assert result is not None and result.reasoning_end == "requested"
    assert (result.usage.reasoning_tokens, result.usage.answer_tokens) == (4, 5)
    close = next(e["forced_close"] for e in events(redis, "job") if e.get("forced_close"))
    assert close == {"at_token": 4, "reason": "requested"}


def test_job_end_reasoning_asked_while_queued_answers_without_reasoning(
    redis: fakeredis.FakeRedis, tmp_path: Path
) -> None:
    cluster = Cluster(redis, tmp_path, SCRIPT, CONTROL_ANSWER)
    cluster.store.submit([NewJob(spec("job"))], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    cluster.store.control("job", "end_reasoning")
    assert cluster.run("job", 1, "w1") == "stop"
    assert streamed(redis, "job") == ("", "So it is 4.")
    assert cluster.engines[0].generated == len(CONTROL_ANSWER)


def test_job_killed_after_a_requested_close_goes_on_in_the_answer(redis: fakeredis.FakeRedis, tmp_path: Path) -> None:
    cluster = Cluster(redis, tmp_path, SCRIPT, CONTROL_ANSWER)
    cluster.store.submit([NewJob(spec("job"))], owner=None, origin=Origin.INTERACTIVE, pool=POOL)

    def press(n: int) -> None:
        if n == 3:
            cluster.store.control("job", "end_reasoning")

    assert cluster.run("job", 1, "w1", kill_after=5, before_token=press) is None  # 3 reasoning, 2 answer
    assert cluster.run("job", 2, "w2") == "stop"
    assert streamed(redis, "job") == ("".join(REASONING[:3]), "So it is 4.")
    result = cluster.store.read("job").result
    assert result is not None and result.reasoning_end == "requested"
    assert cluster.engines[-1].generated == 3  # the answer's first two tokens were kept


def test_job_end_reasoning_does_not_carry_over_to_a_revision(redis: fakeredis.FakeRedis, tmp_path: Path) -> None:
    cluster = Cluster(redis, tmp_path, SCRIPT, CONTROL_ANSWER)
    job = spec("job", revise=1)
    cluster.store.submit([NewJob(job)], owner=None, origin=Origin.INTERACTIVE, pool=POOL)
    cluster.store.control("job", "end_reasoning")
    assert cluster.run("job", 1, "w1") == "stop"
    finding = Finding(check="arithmetic", severity="error", message="2 + 2 is not 5")
    assert cluster.store.revise("job", 1, job.model_copy(update={"round": 1}), job, [finding])
    assert cluster.run("job", 2, "w2") == "stop"
    assert cluster.store.view("job").reasoning == "".join(REASONING)  # the revision reasons in full
