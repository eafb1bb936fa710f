"""The gateway's warm-up: every configured model's template renders once at start-up, so the
first request does not pay for it (THINKSTREAM_WARM_UP)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi.testclient import TestClient

from shared.schemas import ChatMessage
from tests.unit.gateway.conftest import Harness, WordCounter


class CountingCounter(WordCounter):
    def __init__(self) -> None:
        self.counted: list[list[ChatMessage]] = []

    def count(self, messages: Sequence[ChatMessage]) -> int:
        self.counted.append(list(messages))
        return super().count(messages)


def test_warmup_renders_a_prompt_at_start_up_before_any_request(make_harness: Callable[..., Harness]) -> None:
    counter = CountingCounter()
    with TestClient(make_harness(counter).app):
        assert len(counter.counted) == 1, "the one configured model's template, at start-up"


def test_warmup_off_renders_nothing_at_start_up(make_harness: Callable[..., Harness]) -> None:
    counter = CountingCounter()
    with TestClient(make_harness(counter, warm_up=False).app):
        assert counter.counted == []
