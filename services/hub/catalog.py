"""Short names for the reasoning models thinkstream is for, each at the quantisation recommended
for CPUs (Q4_K_M: about 4.8 bits per weight, the usual balance of size and quality for llama.cpp),
so `thinkstream pull qwen3-1.7b` is enough. The same repository names are used on both hubs
(ModelScope mirrors these organisations)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    repo: str
    filename: str
    family: str
    """Its template family (services/engine/families.py)."""
    size_gb: float
    """About how large the file is."""


CATALOG = {
    entry.name: entry
    for entry in (
        CatalogEntry(
            "deepseek-r1-distill-qwen-1.5b",
            "unsloth/DeepSeek-R1-Distill-Qwen-1.5B-GGUF",
            "DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf",
            "deepseek-r1",
            1.1,
        ),
        CatalogEntry(
            "deepseek-r1-distill-qwen-7b",
            "unsloth/DeepSeek-R1-Distill-Qwen-7B-GGUF",
            "DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.gguf",
            "deepseek-r1",
            4.7,
        ),
        CatalogEntry("qwen3-1.7b", "unsloth/Qwen3-1.7B-GGUF", "Qwen3-1.7B-Q4_K_M.gguf", "qwen3", 1.1),
        CatalogEntry("qwen3-4b", "unsloth/Qwen3-4B-GGUF", "Qwen3-4B-Q4_K_M.gguf", "qwen3", 2.5),
        CatalogEntry("qwq-32b", "Qwen/QwQ-32B-GGUF", "qwq-32b-q4_k_m.gguf", "qwq", 19.9),
        CatalogEntry(
            "phi-4-mini-reasoning",
            "unsloth/Phi-4-mini-reasoning-GGUF",
            "Phi-4-mini-reasoning-Q4_K_M.gguf",
            "phi4-mini-reasoning",
            2.5,
        ),
    )
}
