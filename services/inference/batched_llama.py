"""The llama.cpp side of continuous batching: one context with a sequence per slot.

The context is made beside the `Llama` object (which loads the weights, tokenizes and keeps the
chat template) with `n_seq_max` sequences, each with its own part of the KV cache
(`n_ctx` = slots x the context window of one job; not unified, so a sequence attends only to
its own cells). Each sequence has its own sampler chain, the same one `Llama.generate` builds
(top-k 40, top-p, min-p 0.05, temperature, then a draw with the job's seed), so a job samples
as it would in a worker of one job at a time. At temperature 0 a sequence takes the first token
of highest logit, as llama.cpp's greedy sampler does, read straight from the logits (10 us
against 100 us for the sampler, which first copies the whole vocabulary).
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence

import llama_cpp
import numpy as np
from llama_cpp import Llama
from llama_cpp import _internals as internals

from services.inference.engine import Sampling
from services.inference.exceptions import SlotError
from services.inference.slots import Row

TOP_K = 40
MIN_P = 0.05


class LlamaBackend:
    def __init__(self, llm: Llama, *, n_seq: int, n_ctx_seq: int, n_batch: int, n_threads: int) -> None:
        self.n_seq = n_seq
        self.n_batch = max(n_batch, n_seq)
        self.n_ctx_seq = n_ctx_seq
        self._model = llm._model
        self._vocab = llm._model.vocab
        self._detokenize = llm.detokenize
        params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)
        params.n_ctx = n_seq * n_ctx_seq
        params.n_batch = self.n_batch
        params.n_ubatch = min(self.n_batch, 512)
        params.n_seq_max = n_seq
        params.kv_unified = False
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        self._context = internals.LlamaContext(model=llm._model, params=params, verbose=False)
        self.ctx = self._context.ctx
        """The raw context (LoRA adapters are applied to it)."""
        self._memory = llama_cpp.llama_get_memory(self.ctx)
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._samplers: dict[int, llama_cpp.llama_sampler_p] = {}
        """The sampler chain of each sequence that samples at a temperature above 0."""
        self._greedy: set[int] = set()
        self._n_vocab = llama_cpp.llama_vocab_n_tokens(self._vocab)

    def close(self) -> None:
        for sampler in self._samplers.values():
            llama_cpp.llama_sampler_free(sampler)
        self._samplers.clear()
        llama_cpp.llama_batch_free(self._batch)
        self._context.close()  # type: ignore[no-untyped-call]

    def kv_bytes_per_seq(self) -> int:
        """What one more sequence costs in KV cache (f16 keys and values of every layer)."""
        model = self._model.model
        n_layer = llama_cpp.llama_model_n_layer(model)
        n_embd = llama_cpp.llama_model_n_embd(model)
        n_head = max(llama_cpp.llama_model_n_head(model), 1)
        n_head_kv = llama_cpp.llama_model_n_head_kv(model)
        return int(2 * 2 * n_layer * (n_embd // n_head) * n_head_kv * self.n_ctx_seq)

    def step(self, rows: Sequence[Row]) -> dict[int, int]:
        batch = self._batch
        index = 0
        outputs: dict[int, int] = {}
        for row in rows:
            if index + len(row.tokens) > self.n_batch:
                raise SlotError(f"a step of more than {self.n_batch} tokens")
            if row.pos + len(row.tokens) > self.n_ctx_seq:
                raise SlotError(f"the sequence would pass its context window of {self.n_ctx_seq} tokens")
            for offset, token in enumerate(row.tokens):
                batch.token[index] = token
                batch.pos[index] = row.pos + offset
                batch.n_seq_id[index] = 1
                batch.seq_id[index][0] = row.seq
                batch.logits[index] = False
                index += 1
            if row.sample:
                batch.logits[index - 1] = True
                outputs[row.seq] = index - 1
        batch.n_tokens = index
        status = llama_cpp.llama_decode(self.ctx, batch)
        if status != 0:
            raise SlotError(f"llama_decode returned {status}")
        return {seq: self._sample(seq, at) for seq, at in outputs.items()}

    def _sample(self, seq: int, at: int) -> int:
        if seq in self._greedy:
            logits = llama_cpp.llama_get_logits_ith(self.ctx, at)
            return int(np.ctypeslib.as_array(logits, shape=(self._n_vocab,)).argmax())
        return int(llama_cpp.llama_sampler_sample(self._samplers[seq], self.ctx, at))

    def set_sampling(self, seq: int, sampling: Sampling) -> None:
        old = self._samplers.pop(seq, None)
        if old is not None:
            llama_cpp.llama_sampler_free(old)
        self._greedy.discard(seq)
        if sampling.temperature <= 0:
            self._greedy.add(seq)
            return
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        seed = sampling.seed if sampling.seed is not None else llama_cpp.LLAMA_DEFAULT_SEED
        for stage in (
            llama_cpp.llama_sampler_init_top_k(TOP_K),
            llama_cpp.llama_sampler_init_top_p(sampling.top_p, 1),
            llama_cpp.llama_sampler_init_min_p(MIN_P, 1),
            llama_cpp.llama_sampler_init_temp(sampling.temperature),
            llama_cpp.llama_sampler_init_dist(seed & 0xFFFFFFFF),
        ):
            llama_cpp.llama_sampler_chain_add(chain, stage)
        self._samplers[seq] = chain

    def truncate(self, seq: int, keep: int) -> None:
        llama_cpp.llama_memory_seq_rm(self._memory, seq, keep, -1)

    def is_end(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))

    def piece(self, token: int) -> bytes:
        return self._detokenize([token])

    def save(self, seq: int) -> bytes:
        size = llama_cpp.llama_state_seq_get_size(self.ctx, seq)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(self.ctx, buffer, size, seq)
        return bytes(buffer)[:written]

    def load(self, seq: int, data: bytes) -> None:
        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if llama_cpp.llama_state_seq_set_data(self.ctx, buffer, len(data), seq) == 0:
            raise SlotError("llama.cpp refused a saved KV state")
