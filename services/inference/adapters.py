"""LoRA adapters of a worker's model: all loaded once at start-up, one applied per job.

llama.cpp keeps the adapters beside the base weights and applies the chosen set to the context
(`llama_set_adapters_lora`), so switching between jobs costs no reload. What a switch does cost
is the KV state: keys and values computed under one adapter are wrong under another, so the
engine scopes its prefix reuse by adapter (`KVReuse.switch`).
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

import llama_cpp
from llama_cpp import Llama

from services.engine.exceptions import ModelLoadError
from services.inference.exceptions import UnknownAdapter
from shared.models import AdapterSpec, LoraChoice


class Adapters:
    def __init__(self, llm: Llama, specs: Sequence[AdapterSpec], ctx: llama_cpp.llama_context_p | None = None) -> None:
        """Load every adapter in `specs` for `llm`'s model; raises `ModelLoadError` naming the
        adapter that cannot be loaded (a missing file, or one made for another model). `ctx`:
        the context they are applied to (default: `llm`'s own; a batched worker's is another)."""
        self._llm = llm
        self._ctx = ctx if ctx is not None else llm._ctx.ctx
        self._loaded: dict[str, llama_cpp.llama_adapter_lora_p] = {}
        self.active: LoraChoice | None = None
        try:
            for spec in specs:
                if not spec.path.is_file():
                    raise ModelLoadError(f"LoRA adapter {spec.name!r}: {spec.path} is not a file")
                adapter = llama_cpp.llama_adapter_lora_init(llm._model.model, str(spec.path).encode())
                if adapter is None:
                    raise ModelLoadError(
                        f"LoRA adapter {spec.name!r}: llama.cpp cannot load {spec.path} "
                        "(not a LoRA GGUF, or made for another base model)"
                    )
                self._loaded[spec.name] = adapter
        except ModelLoadError:
            self.close()
            raise

    @property
    def names(self) -> list[str]:
        return list(self._loaded)

    def apply(self, choice: LoraChoice | None) -> None:
        """Make the context compute with `choice` (None: the base model alone)."""
        if choice == self.active:
            return
        ctx = self._ctx
        if choice is None:
            status = llama_cpp.llama_set_adapters_lora(ctx, None, 0, None)
        else:
            adapter = self._loaded.get(choice.name)
            if adapter is None:
                known = ", ".join(self._loaded) or "none"
                raise UnknownAdapter(f"this worker has no LoRA adapter {choice.name!r} (it has: {known})")
            # llama-cpp-python types the adapter handle as c_void_p and the array's element as a
            # pointer to one; they are the same pointer at run time.
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(adapter)  # type: ignore[misc]
            scales = (ctypes.c_float * 1)(choice.scale)
            status = llama_cpp.llama_set_adapters_lora(ctx, adapters, 1, scales)
        if status != 0:
            raise RuntimeError(f"llama.cpp refused to set the LoRA adapter ({status})")
        self.active = choice

    def close(self) -> None:
        if self._loaded and self.active is not None:
            llama_cpp.llama_set_adapters_lora(self._ctx, None, 0, None)
        for adapter in self._loaded.values():
            llama_cpp.llama_adapter_lora_free(adapter)
        self._loaded.clear()
        self.active = None
