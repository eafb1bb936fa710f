"""A tiny LoRA adapter for the embedded model, written with the `gguf` package: random low-rank
updates to every layer's attention output and feed-forward down projection, strong enough to
change what the model writes. Only for tests: it teaches the model nothing."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

from shared.settings import embedded_model_path

TARGETS = ("attn_output", "ffn_down")


def write_lora(dest: Path, *, rank: int = 4, strength: float = 0.1, seed: int = 0) -> Path:
    """Write a LoRA GGUF for the embedded model to `dest`: general.type `adapter`, the base's
    architecture, `adapter.lora.alpha` = `rank` (so llama.cpp scales it by 1), and for each target
    weight W (ggml shape [n_in, n_out]) the pair `W.lora_a` [n_in, rank] and `W.lora_b` [rank, n_out]."""
    reader = gguf.GGUFReader(embedded_model_path(), "r")
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    writer = gguf.GGUFWriter(dest, arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(rank))
    generator = np.random.default_rng(seed)
    for tensor in reader.tensors:
        if not any(f".{target}." in tensor.name for target in TARGETS):
            continue
        n_in, n_out = (int(n) for n in tensor.shape[:2])
        # numpy shapes are ggml's reversed
        lora_a = generator.normal(0.0, strength, size=(rank, n_in)).astype(np.float32)
        lora_b = generator.normal(0.0, strength, size=(n_out, rank)).astype(np.float32)
        writer.add_tensor(f"{tensor.name}.lora_a", lora_a)
        writer.add_tensor(f"{tensor.name}.lora_b", lora_b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dest
