"""`THINKSTREAM_FLASH_ATTN` where it takes effect: the model an inference worker loads, and the
llama.cpp context that model computes in (the batched worker's context copies its parameters)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fakeredis
import llama_cpp
import pytest

from services.engine.model import load_model
from services.inference import worker
from services.inference.batched_llama import LlamaBackend
from shared.settings import Settings, embedded_model_path


class Loaded(Exception):
    """Stops the worker once it has asked for its model."""


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, False), ("1", True), ("true", True), ("0", False), ("false", False)],
)
def test_a_worker_loads_its_model_with_the_plain_kernels_unless_told(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str | None, expected: bool
) -> None:
    if value is None:
        monkeypatch.delenv("THINKSTREAM_FLASH_ATTN", raising=False)
    else:
        monkeypatch.setenv("THINKSTREAM_FLASH_ATTN", value)
    asked: dict[str, Any] = {}

    def load(path: Path, n_ctx: int, **options: Any) -> None:
        asked.update(options)
        raise Loaded

    monkeypatch.setattr(worker, "load_model", load)
    settings = Settings(redis_url="redis://fake", data_dir=tmp_path)
    with pytest.raises(Loaded):
        worker.run_worker(settings, fakeredis.FakeRedis())
    assert asked["flash_attn"] is expected


@pytest.mark.parametrize(
    ("flash", "kernel"),
    [(False, llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED), (True, llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED)],
)
def test_the_model_and_the_batched_context_compute_with_the_kernel_asked_for(flash: bool, kernel: int) -> None:
    llm = load_model(embedded_model_path(), 256, n_threads=1, flash_attn=flash)
    assert llm.context_params.flash_attn_type == kernel
    backend = LlamaBackend(llm, n_seq=2, n_ctx_seq=64, n_batch=32, n_threads=1)
    try:
        assert backend._context.params.flash_attn_type == kernel
    finally:
        backend.close()
