"""GGUF files that look like the target models to everything but the weights.

Each one is the embedded SmolLM2-135M with a target model's real chat template (kept under
`tests/fixtures/templates/`) and that model's special tokens: the target's texts replace some of
SmolLM2's unused special tokens, with the token types the target's GGUF gives them (control
tokens for turn markup, user-defined ones for `<think>` and `<tool_call>`, which detokenize as
text), and the target's BOS/EOS. So the whole pipeline (template, tokenizer, generation, splitter,
end-of-turn detection) runs on the target's markup, with a model small enough for every test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gguf

from shared.settings import embedded_model_path

TEMPLATES = Path(__file__).resolve().parents[1] / "fixtures" / "templates"
CONTROL = gguf.TokenType.CONTROL
USER_DEFINED = gguf.TokenType.USER_DEFINED


@dataclass(frozen=True)
class Target:
    name: str
    template_file: str
    tokens: dict[int, tuple[str, gguf.TokenType]]
    """SmolLM2 token id -> the target's token text and type."""
    bos: int
    eos: int
    add_bos: bool

    @property
    def template(self) -> str:
        return (TEMPLATES / self.template_file).read_text()

    def token_id(self, text: str) -> int:
        return next(token for token, (t, _) in self.tokens.items() if t == text)


_QWEN_TOKENS = {
    0: ("<|endoftext|>", CONTROL),
    1: ("<|im_start|>", CONTROL),
    2: ("<|im_end|>", CONTROL),
    3: ("<think>", USER_DEFINED),
    4: ("</think>", USER_DEFINED),
    5: ("<tool_call>", USER_DEFINED),
    6: ("</tool_call>", USER_DEFINED),
    7: ("<tool_response>", USER_DEFINED),
    8: ("</tool_response>", USER_DEFINED),
}

TARGETS = {
    target.name: target
    for target in (
        Target("qwen3", "Qwen-Qwen3-0.6B.jinja", _QWEN_TOKENS, bos=0, eos=2, add_bos=False),
        Target("qwq", "Qwen-QwQ-32B.jinja", _QWEN_TOKENS, bos=0, eos=2, add_bos=False),
        Target("qwen2.5", "Qwen-Qwen2.5-7B-Instruct.jinja", _QWEN_TOKENS, bos=0, eos=2, add_bos=False),
        Target(
            "deepseek-r1",
            "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja",
            {
                0: ("<｜begin▁of▁sentence｜>", CONTROL),
                1: ("<｜User｜>", USER_DEFINED),
                2: ("<｜end▁of▁sentence｜>", CONTROL),
                3: ("<｜Assistant｜>", USER_DEFINED),
                4: ("<think>", USER_DEFINED),
                5: ("</think>", USER_DEFINED),
            },
            bos=0,
            eos=2,
            add_bos=True,
        ),
        Target(
            "phi4-mini-reasoning",
            "microsoft-Phi-4-mini-reasoning.jinja",
            {
                0: ("<|endoftext|>", CONTROL),
                1: ("<|assistant|>", CONTROL),
                2: ("<|end|>", CONTROL),
                3: ("<|system|>", CONTROL),
                4: ("<|user|>", CONTROL),
                5: ("<|tool|>", CONTROL),
                6: ("<|/tool|>", CONTROL),
            },
            bos=0,
            eos=2,
            add_bos=False,
        ),
    )
}


def write_target_model(target: Target, dest: Path) -> Path:
    """Write the embedded model's weights with `target`'s template and special tokens to `dest`."""
    reader = gguf.GGUFReader(embedded_model_path(), "r")
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    writer = gguf.GGUFWriter(dest, arch)
    tokens = list(reader.get_field(gguf.Keys.Tokenizer.LIST).contents())
    types = list(reader.get_field(gguf.Keys.Tokenizer.TOKEN_TYPE).contents())
    for token, (text, kind) in target.tokens.items():
        tokens[token], types[token] = text, int(kind)
    replaced = {
        gguf.Keys.Tokenizer.LIST: tokens,
        gguf.Keys.Tokenizer.TOKEN_TYPE: types,
        gguf.Keys.Tokenizer.CHAT_TEMPLATE: target.template,
        gguf.Keys.Tokenizer.BOS_ID: target.bos,
        gguf.Keys.Tokenizer.EOS_ID: target.eos,
        gguf.Keys.Tokenizer.ADD_BOS: target.add_bos,
        gguf.Keys.General.NAME: f"SmolLM2-135M as {target.name}",
    }
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        if field.name in replaced:
            continue
        kind = field.types[0]
        sub_type = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub_type)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_chat_template(target.template)
    writer.add_bos_token_id(target.bos)
    writer.add_eos_token_id(target.eos)
    writer.add_add_bos_token(target.add_bos)
    writer.add_name(f"SmolLM2-135M as {target.name}")
    for tensor in reader.tensors:
        writer.add_tensor_info(
            tensor.name, tensor.data.shape, tensor.data.dtype, tensor.data.nbytes, tensor.tensor_type
        )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in reader.tensors:
        writer.write_tensor_data(tensor.data)
    writer.close()
    return dest
