"""The models a deployment serves: how they are configured, and what a worker declares it holds.

A deployment serves one model or several. Each is a `ModelSpec` (a name clients use, a GGUF file,
its context size, other names it answers to, LoRA adapters); the settings list them
(`THINKSTREAM_MODELS`, a models file, or the single-model settings). A worker loads one of them
and declares it in its heartbeat (`WorkerModel`), which the gateway reads to route requests and
list models.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"
"""Names clients send in `model`: letters, digits and `. _ : / -` (Ollama's `qwen3:8b`, Hugging
Face's `Qwen/Qwen3-8B`), at most 128 characters."""
ADAPTER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
"""Adapter names: no `:`, which separates a model from its adapter in `BASE:ADAPTER`."""

ModelName = Annotated[str, Field(pattern=MODEL_NAME_PATTERN)]
AdapterName = Annotated[str, Field(pattern=ADAPTER_NAME_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdapterSpec(_Strict):
    """A LoRA adapter (a GGUF made for the model, e.g. by llama.cpp's convert_lora_to_gguf.py)."""

    name: AdapterName
    path: Path
    scale: Annotated[float, Field(gt=0.0, le=4.0)] = 1.0
    """How strongly it applies when a request names it without a scale."""


class ModelSpec(_Strict):
    """One model this deployment serves."""

    name: ModelName
    path: Path
    n_ctx: Annotated[int | None, Field(ge=256)] = None
    """Context window in tokens (default THINKSTREAM_N_CTX); the model's trained limit caps it."""
    aliases: list[ModelName] = []
    adapters: list[AdapterSpec] = []
    workers: Annotated[int, Field(ge=0, le=64)] = 1
    """Inference worker processes `thinkstream up` starts for it."""

    @model_validator(mode="after")
    def _distinct(self) -> ModelSpec:
        names = [adapter.name for adapter in self.adapters]
        if len(names) != len(set(names)):
            raise ValueError(f"model {self.name!r} lists an adapter name twice: {names}")
        return self

    @property
    def names(self) -> list[str]:
        """Every name clients may use for it."""
        return [self.name, *(alias for alias in self.aliases if alias != self.name)]

    def adapter(self, name: str) -> AdapterSpec | None:
        return next((adapter for adapter in self.adapters if adapter.name == name), None)


class LoraChoice(_Strict):
    """The adapter one job runs with."""

    name: AdapterName
    scale: Annotated[float, Field(gt=0.0, le=4.0)] = 1.0

    @property
    def scope(self) -> str:
        """What a KV state computed with this adapter may be reused for: only the same adapter
        at the same scale."""
        return f"{self.name}@{self.scale:g}"


class WorkerModel(_Strict):
    """What an inference worker declares it holds, in its heartbeat (`declaration` field)."""

    name: ModelName
    file: str
    """The GGUF file it loaded, as it sees it."""
    n_ctx: int
    n_ctx_train: int = 0
    family: str = ""
    """The reasoning template family its chat template was recognised as (services/engine/families.py)."""
    aliases: list[str] = []
    adapters: list[str] = []


_MODEL_LIST = TypeAdapter(list[ModelSpec])


def load_models_file(path: Path) -> list[ModelSpec]:
    """A models file: TOML with one `[[models]]` table per model, or JSON (a list, or an object
    with `models`). Relative paths in it are relative to the file. Raises `ValueError` saying
    what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read the models file {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "TOML" if path.suffix == ".toml" else "JSON"
        raise ValueError(f"the models file {path} is not valid {kind}: {exc}") from None
    entries = data.get("models") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ValueError(f"the models file {path} must list models (TOML: [[models]] tables; JSON: a list)")
    try:
        models = _MODEL_LIST.validate_python(entries)
    except ValidationError as exc:
        raise ValueError(f"the models file {path}: {exc}") from None
    return [_relative_to(model, path.parent) for model in models]


def _relative_to(model: ModelSpec, folder: Path) -> ModelSpec:
    adapters = [
        adapter if adapter.path.is_absolute() else adapter.model_copy(update={"path": folder / adapter.path})
        for adapter in model.adapters
    ]
    path = model.path if model.path.is_absolute() else folder / model.path
    return model.model_copy(update={"path": path, "adapters": adapters})


def check_catalog(models: list[ModelSpec]) -> None:
    """Raises `ValueError` when two models share a name (or an alias)."""
    seen: dict[str, str] = {}
    for model in models:
        for name in model.names:
            if name in seen:
                raise ValueError(f"the name {name!r} is used by models {seen[name]!r} and {model.name!r}: rename one")
            seen[name] = model.name


def parse_model_option(text: str) -> ModelSpec:
    """`NAME=PATH[,workers=N][,n_ctx=N][,alias=NAME]...[,lora=NAME=PATH]...` (`thinkstream up
    --model`). Raises `ValueError` saying what to fix."""
    head, *options = text.split(",")
    name, found, path = head.partition("=")
    if not found or not name or not path:
        raise ValueError(f"--model {text!r}: write NAME=PATH, e.g. --model qwen3=/models/Qwen3-1.7B-Q4_K_M.gguf")
    fields: dict[str, object] = {"name": name, "path": path, "aliases": [], "adapters": []}
    for option in options:
        key, found, value = option.partition("=")
        if not found or not value:
            raise ValueError(f"--model {text!r}: {option!r} is not KEY=VALUE")
        if key in ("workers", "n_ctx"):
            if not value.isdigit():
                raise ValueError(f"--model {text!r}: {key} must be a whole number, not {value!r}")
            fields[key] = int(value)
        elif key == "alias":
            fields["aliases"].append(value)  # type: ignore[attr-defined]
        elif key == "lora":
            adapter, found, adapter_path = value.partition("=")
            if not found:
                raise ValueError(f"--model {text!r}: write lora=NAME=PATH")
            fields["adapters"].append({"name": adapter, "path": adapter_path})  # type: ignore[attr-defined]
        else:
            raise ValueError(f"--model {text!r}: unknown option {key!r} (workers, n_ctx, alias, lora)")
    try:
        return ModelSpec.model_validate(fields)
    except ValidationError as exc:
        raise ValueError(f"--model {text!r}: {exc}") from None
