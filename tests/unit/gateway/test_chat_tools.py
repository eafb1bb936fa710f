"""Tools, reasoning effort, accepted client fields and the verdict line on `/v1/chat/completions`,
on fakeredis with a scripted engine (what the worker receives is read back from its job spec)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from fastapi.testclient import TestClient

from services.engine.families import HERMES
from services.gateway.jobs import reasoning_budget
from shared import keys
from shared.schemas import JobSpec
from tests.support.fake_engine import ScriptedEngine
from tests.unit.gateway.conftest import Harness, WordCounter
from tests.unit.gateway.test_chat_api import in_background, serve_once_queued, stream_payloads

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CALL_SCRIPT = [
    "I should look it up.",
    "</think>",
    "\n\n",
    "<tool_",
    'call>\n{"name": "get_weather", ',
    '"arguments": {"city": "Paris"}}\n</tool_call>',
]
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]


class ToolWordCounter(WordCounter):
    """A model whose template renders tools and which writes Qwen's `<tool_call>` tags."""

    tool_calls = HERMES
    soft_switches = ("/think", "/no_think")


@pytest.fixture(autouse=True)
def quick_resync(monkeypatch: pytest.MonkeyPatch) -> None:
    """fakeredis's pub/sub reaches a follower late; re-reading the log sooner keeps these tests quick."""
    monkeypatch.setattr("services.gateway.jobs.IDLE_RESYNC_S", 0.2)


@pytest.fixture
def tool_harness(make_harness: Callable[..., Harness]) -> Harness:
    return make_harness(ToolWordCounter())


@pytest.fixture
def tool_client(tool_harness: Harness) -> Iterator[TestClient]:
    with TestClient(tool_harness.app) as test_client:
        yield test_client


def answer(client: TestClient, harness: Harness, body: dict[str, Any], *script: str) -> Any:
    """POST a non-streaming chat request, serve it with `script`, return the response."""
    wait = in_background(lambda: client.post("/v1/chat/completions", json=body))
    serve_once_queued(harness, ScriptedEngine(list(script) or ["Hmm.", "</think>", "Yes."]))
    return wait()


def spec_of(harness: Harness, job_id: str) -> JobSpec:
    raw = harness.redis.hget(keys.job_key(job_id), "spec")
    assert raw is not None
    return JobSpec.model_validate_json(raw)


def test_tools_on_a_model_that_cannot_call_them_are_accepted_and_left_out(client: TestClient, harness: Harness) -> None:
    body = {"messages": QUESTION, "tools": [WEATHER_TOOL], "tool_choice": "auto"}
    response = answer(client, harness, body, "Hmm.", "</think>", "It is sunny.")
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["choices"][0]["message"]["content"] == "It is sunny."
    assert reply["choices"][0]["finish_reason"] == "stop"
    spec = spec_of(harness, reply["thinkstream"]["job_id"])
    assert not any(m.tools for m in spec.messages)  # the model never saw them


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
def test_tool_choice_that_demands_a_call_is_400_on_a_model_without_tools(client: TestClient, choice: object) -> None:
    body = {"messages": QUESTION, "tools": [WEATHER_TOOL], "tool_choice": choice}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "tool_choice" and "cannot call tools" in error["message"]


def test_tool_call_comes_back_as_tool_calls_not_streaming(tool_client: TestClient, tool_harness: Harness) -> None:
    body = {"messages": QUESTION, "tools": [WEATHER_TOOL]}
    response = answer(tool_client, tool_harness, body, *CALL_SCRIPT)
    assert response.status_code == 200, response.text
    reply = response.json()
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["reasoning_content"] == "I should look it up."
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"] == {"name": "get_weather", "arguments": json.dumps({"city": "Paris"})}
    # The worker got the definitions on the carrier message, first, and the question unchanged.
    spec = spec_of(tool_harness, reply["thinkstream"]["job_id"])
    assert spec.messages[0].role == "system" and spec.messages[0].tools == [WEATHER_TOOL]
    assert spec.messages[1].content == QUESTION[0]["content"]


def test_tool_call_streams_as_a_tool_calls_delta(tool_client: TestClient, tool_harness: Harness) -> None:
    body = {"messages": QUESTION, "tools": [WEATHER_TOOL], "stream": True}
    wait = in_background(lambda: stream_payloads(tool_client, body))
    serve_once_queued(tool_harness, ScriptedEngine(CALL_SCRIPT))
    payloads = wait()
    assert isinstance(payloads, list) and payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("content", "") for d in deltas) == ""  # no tag fragment leaked as text
    assert "".join(d.get("reasoning", "") for d in deltas) == "I should look it up."
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "I should look it up."
    calls = [call for d in deltas for call in d.get("tool_calls", [])]
    assert [c["function"]["name"] for c in calls] == ["get_weather"] and calls[0]["index"] == 0
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_openai_client_reads_the_streamed_call(tool_client: TestClient, tool_harness: Harness) -> None:
    client = openai.OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=tool_client)

    def run() -> list[Any]:
        stream = client.chat.completions.create(
            model=tool_harness.settings.served_model_name, messages=QUESTION, tools=[WEATHER_TOOL], stream=True
        )
        return list(stream)

    wait = in_background(run)
    serve_once_queued(tool_harness, ScriptedEngine(CALL_SCRIPT))
    chunks = wait()
    assert isinstance(chunks, list)
    calls = [call for chunk in chunks for choice in chunk.choices for call in choice.delta.tool_calls or []]
    assert calls[0].function.name == "get_weather" and calls[0].id.startswith("call_")
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_a_call_written_in_the_reasoning_is_not_a_call(tool_client: TestClient, tool_harness: Harness) -> None:
    thought = '<tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}</tool_call>'
    body = {"messages": QUESTION, "tools": [WEATHER_TOOL]}
    response = answer(tool_client, tool_harness, body, thought, "</think>", "I cannot look it up.")
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "stop" and "tool_calls" not in choice["message"]
    assert choice["message"]["reasoning_content"] == thought
    assert choice["message"]["content"] == "I cannot look it up."


def test_a_call_to_a_function_not_offered_stays_text(tool_client: TestClient, tool_harness: Harness) -> None:
    text = '<tool_call>{"name": "delete_everything", "arguments": {}}</tool_call>'
    response = answer(tool_client, tool_harness, {"messages": QUESTION, "tools": [WEATHER_TOOL]}, "</think>", text)
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["content"] == text


def test_tool_choice_none_hides_the_tools(tool_client: TestClient, tool_harness: Harness) -> None:
    body = {"messages": QUESTION, "tools": [WEATHER_TOOL], "tool_choice": "none"}
    response = answer(tool_client, tool_harness, body)
    assert not any(m.tools for m in spec_of(tool_harness, response.json()["thinkstream"]["job_id"]).messages)


def test_named_tool_choice_shows_only_that_function(tool_client: TestClient, tool_harness: Harness) -> None:
    clock = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
    body = {
        "messages": QUESTION,
        "tools": [WEATHER_TOOL, clock],
        "tool_choice": {"type": "function", "function": {"name": "get_time"}},
    }
    response = answer(tool_client, tool_harness, body)
    spec = spec_of(tool_harness, response.json()["thinkstream"]["job_id"])
    assert spec.messages[0].tools == [clock]


def test_history_with_calls_and_results_reaches_the_worker(tool_client: TestClient, tool_harness: Harness) -> None:
    history = [
        *QUESTION,
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "I should look it up.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "clear", "celsius": 21}'},
    ]
    response = answer(tool_client, tool_harness, {"messages": history, "tools": [WEATHER_TOOL]})
    assert response.status_code == 200, response.text
    spec = spec_of(tool_harness, response.json()["thinkstream"]["job_id"])
    assistant, result = spec.messages[-2], spec.messages[-1]
    assert assistant.tool_calls is not None and assistant.tool_calls[0].function.arguments == {"city": "Paris"}
    assert assistant.content == ""  # its reasoning is not sent back
    assert result.role == "tool" and result.tool_call_id == "call_1" and "clear" in result.content


@pytest.mark.parametrize(
    ("arguments", "words"),
    [("not json", "JSON object"), ("[1, 2]", "JSON object")],
)
def test_history_call_with_bad_arguments_is_400(client: TestClient, arguments: str, words: str) -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}
    body = {"messages": [*QUESTION, {"role": "assistant", "tool_calls": [call]}, *QUESTION]}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400 and words in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("fields", "budget"),
    [
        ({"reasoning_effort": "none"}, 0),
        ({"reasoning_effort": "minimal"}, 0),
        ({"reasoning_effort": "low"}, 100),
        ({"reasoning_effort": "high"}, 300),
        ({"reasoning_effort": "high", "max_reasoning_tokens": 7}, 7),
        ({"stream": False}, 20),  # a non-streaming request without a budget: the helper budget
    ],
)
def test_reasoning_budget_the_worker_receives(
    make_harness: Callable[..., Harness], fields: dict[str, object], budget: int
) -> None:
    harness = make_harness(
        reasoning_effort_low_tokens=100, reasoning_effort_high_tokens=300, non_streaming_max_reasoning_tokens=20
    )
    with TestClient(harness.app) as client:
        response = answer(client, harness, {"messages": QUESTION, **fields})
        assert spec_of(harness, response.json()["thinkstream"]["job_id"]).max_reasoning_tokens == budget


def test_streaming_request_without_budget_gets_the_default(client: TestClient, harness: Harness) -> None:
    body = {"messages": QUESTION, "stream": True}
    wait = in_background(lambda: stream_payloads(client, body))
    serve_once_queued(harness, ScriptedEngine(["Hmm.", "</think>", "Yes."]))
    chunks = [json.loads(p) for p in wait()[:-1]]  # type: ignore[index]
    job_id = chunks[-1]["thinkstream"]["job_id"]
    spec = spec_of(harness, job_id)
    # The server's default, capped so that a quarter of max_tokens stays for the answer.
    assert spec.max_reasoning_tokens == reasoning_budget(None, spec.max_tokens, harness.settings) == 24


@pytest.mark.parametrize(("word", "budget"), [("/no_think", 0), ("/think", 20)])
def test_qwen3_soft_switch_sets_the_budget(make_harness: Callable[..., Harness], word: str, budget: int) -> None:
    harness = make_harness(ToolWordCounter(), non_streaming_max_reasoning_tokens=20)
    messages = [{"role": "user", "content": "Hi /no_think"}, {"role": "assistant", "content": "Hi!"}]
    messages.append({"role": "user", "content": f"What is 2 + 2? {word}"})
    with TestClient(harness.app) as client:
        response = answer(client, harness, {"messages": messages})
        assert spec_of(harness, response.json()["thinkstream"]["job_id"]).max_reasoning_tokens == budget


def test_fields_that_change_nothing_are_accepted(client: TestClient, harness: Harness) -> None:
    body = {
        "messages": QUESTION,
        "user": "u-1",
        "metadata": {"source": "sdk"},
        "store": False,
        "service_tier": "auto",
        "parallel_tool_calls": True,
        "prompt_cache_key": "k",
        "safety_identifier": "s",
        "logit_bias": {},
        "top_logprobs": 0,
        "modalities": ["text"],
        "reasoning_effort": "medium",
        "frequency_penalty": 0,
    }
    assert answer(client, harness, body).status_code == 200


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("verbosity", "low", "Extra inputs"),
        ("logit_bias", {"50256": -100}, "logit_bias is not supported"),
        ("modalities", ["text", "audio"], "'text'"),
        ("reasoning_effort", "extreme", "'none', 'minimal'"),
        ("functions", [{"name": "f"}], "Extra inputs"),
        ("tool_choice", "required", "tool_choice requires tools"),
    ],
)
def test_fields_that_would_change_the_result_are_400_naming_them(
    client: TestClient, field: str, value: object, words: str
) -> None:
    response = client.post("/v1/chat/completions", json={"messages": QUESTION, field: value})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"].startswith(field) or field in error["message"], error
    assert words in error["message"]


def test_verdict_line_is_appended_only_when_asked(make_harness: Callable[..., Harness]) -> None:
    script = ["12 * 7 = 84.", "</think>", "The answer is 84."]
    for setting, expected in ((False, "The answer is 84."), (True, "The answer is 84.\n\nCheck: ")):
        harness = make_harness(chat_verdict_in_content=setting)
        with TestClient(harness.app) as client:
            reply = answer(client, harness, {"messages": QUESTION}, *script).json()
            content = reply["choices"][0]["message"]["content"]
            assert content.startswith(expected) and (setting or content == expected)
            if setting:
                assert content.endswith(f"Check: {reply['check']['verdict']}") or "—" in content
            streaming = {"messages": QUESTION, "stream": True}
            wait = in_background(lambda client=client, streaming=streaming: stream_payloads(client, streaming))
            serve_once_queued(harness, ScriptedEngine(script))
            chunks = [json.loads(p) for p in wait()[:-1]]  # type: ignore[index]
            streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
            assert streamed.startswith(expected) and (setting or streamed == expected)
