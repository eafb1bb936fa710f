"""Loading a GGUF model with llama-cpp-python."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from llama_cpp import Llama

from services.engine.exceptions import ModelLoadError


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path
    n_ctx: int
    """The context window in use: the setting, capped by what the model was trained for."""
    n_ctx_train: int


def load_model(
    path: Path,
    n_ctx: int,
    *,
    n_threads: int | None = None,
    n_batch: int = 512,
    flash_attn: bool = False,
    vocab_only: bool = False,
) -> Llama:
    try:
        return Llama(
            model_path=str(path),
            n_ctx=min(n_ctx, 512) if vocab_only else n_ctx,  # a vocab-only load still builds a (tiny) context
            n_threads=n_threads or os.cpu_count() or 1,
            n_threads_batch=n_threads or os.cpu_count() or 1,
            n_batch=n_batch,
            flash_attn=flash_attn,
            vocab_only=vocab_only,
            verbose=False,
        )
    except (ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"cannot load the GGUF model at {path}: {exc}") from exc


def trained_context(llm: Llama) -> int:
    arch = llm.metadata.get("general.architecture", "")
    value = llm.metadata.get(f"{arch}.context_length")
    return int(value) if value else 0


def model_info(llm: Llama, name: str, path: Path, n_ctx: int) -> ModelInfo:
    trained = trained_context(llm)
    return ModelInfo(name=name, path=path, n_ctx=min(n_ctx, trained) if trained else n_ctx, n_ctx_train=trained)
