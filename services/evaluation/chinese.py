"""A thin pre-pass that lets math-verify read Chinese answers.

math-verify reads numbers only when a space, `=` or the start of the text comes before them, and
knows "answer" but not 答案. So, in this order:
- full-width forms become ASCII (NFKC: `２３` → `23`, `，` → `,`);
- Chinese numerals become digits with `cn2an` (`二十三只` → `23只`, `三分之一` → `1/3`), after
  words that merely contain a numeral are set aside (一共, 一些, 十分 …);
- 答案是 / 答案为 / 答： / 最终答案 become "the final answer is";
- a standing-alone 是 / 对 / 否 / 不是 / 不对 becomes yes / no (for yes/no questions);
- digits and Han characters get a space between them.
"""

from __future__ import annotations

import re
import unicodedata

import cn2an

_HAN = r"\u4e00-\u9fff"
# Words with a numeral inside that do not count anything: kept away from cn2an.
_NOT_NUMBERS = (
    "一共",
    "一些",
    "一起",
    "一下",
    "一样",
    "一定",
    "一点",
    "一般",
    "一直",
    "统一",
    "唯一",
    "十分",
    "万一",
    "一边",
)
_MARKER = re.compile(r"(?:最终答案|答案)\s*(?:是|为|应该是|应为)?\s*[:：]?|(?<![回解])答\s*[:：]")
_YES = re.compile(
    r"(?:^|(?<=[\s,。.!！:：“”\"'「」()*]))(不是|不对|不|否|是的|是|对)(?=$|[\s,。.!！;；:：“”\"'「」()*])"
)
_ECHO = re.compile(r"[“\"'「]?[是否][”\"'」]?\s*或\s*[“\"'「]?[是否][”\"'」]?")
_HAN_DIGIT = re.compile(rf"(?<=[{_HAN}])(?=[-\d])|(?<=[\d%])(?=[{_HAN}])")


def has_han(text: str) -> bool:
    return re.search(f"[{_HAN}]", text) is not None


def numerals_to_digits(text: str) -> str:
    guarded = text
    for i, word in enumerate(_NOT_NUMBERS):
        guarded = guarded.replace(word, f"\x00{i}\x00")
    try:
        converted = cn2an.transform(guarded, "cn2an")
    except (ValueError, KeyError):  # cn2an refuses some runs it half-recognises; keep the text
        converted = guarded
    return re.sub(r"\x00(\d+)\x00", lambda m: _NOT_NUMBERS[int(m[1])], converted)


def prepare(text: str, *, yes_no: bool = False, names: tuple[str, ...] = ()) -> str:
    """`text` rewritten for math-verify; unchanged when it has no Han characters."""
    text = unicodedata.normalize("NFKC", text)
    if not has_han(text):
        return text
    text = numerals_to_digits(text)
    text = _MARKER.sub(" the final answer is ", text)
    if yes_no:
        text = _ECHO.sub(" ", text)
        text = _YES.sub(lambda m: " no " if m[1].startswith(("不", "否")) else " yes ", text)
    for name in names:
        text = text.replace(name, f" {name} ")
    return _HAN_DIGIT.sub(" ", text)
