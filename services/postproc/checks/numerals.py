"""Numbers written as words, rewritten as digits before anything else reads the text.

Chinese numerals that count something (二十三只 → 23只, 三分之一 → 1/3) and English number words
(forty-six → 46). What is left alone, and why, is said next to each rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import cn2an

# Chinese numerals: 二十三只 → 23只, 三分之一 → 1/3. A run counts before a measure word or at the end
# of a clause, not after 这/那/每/哪/第 ("这两个数" is "these two numbers", 第三 an ordinal), and a
# lone 一 is mostly the article ("一个", "一共").

_ZH_NUMERAL = "[零〇一二两三四五六七八九十百千万]"
_MEASURE = (
    "分钟|小时|千米|公里|厘米|毫米|千克|公斤|星期|平方|立方|"
    "只|个|人|岁|元|块|角|天|本|头|条|辆|米|秒|页|次|张|支|斤|克|件|名|位|年|月|周|颗|棵|朵|匹|道|题|"
    "种|根|双|袋|箱|盒|瓶|杯|碗|把|台|间|层|级|倍|份|组|排|行|点|套|部|节|封|首|座|家|户|分"
)
_ZH_FRACTION = re.compile(f"({_ZH_NUMERAL}+)分之({_ZH_NUMERAL}+)")
_ZH_COUNT = re.compile(
    f"(?<![这那每哪第{_ZH_NUMERAL[1:-1]}])({_ZH_NUMERAL}+)(?=\\s*(?:{_MEASURE}|加|减|乘|除|等于|[-+*/=×÷])|[，。！？；、,.!?;]|$)"
)


def zh_numeral_value(text: str) -> int | None:
    """二十三 → 23, 一百零五 → 105, 两万 → 20000; None when cn2an does not read it as a number."""
    try:
        value = cn2an.cn2an(text, "smart")
    except (ValueError, KeyError, IndexError):
        return None
    return int(value) if float(value).is_integer() else None


def _zh_count(m: re.Match[str]) -> str:
    run = m[1]
    after = m.string[m.end() : m.end() + 2]
    if run == "一":
        return run
    if run == "十" and after.startswith("分") and not after.startswith(("分钟", "分之")):
        return run  # 十分: "very"
    value = zh_numeral_value(run)
    return run if value is None else str(value)


def _zh_fraction(m: re.Match[str]) -> str:
    bottom, top = zh_numeral_value(m[1]), zh_numeral_value(m[2])
    return m[0] if bottom is None or top is None or bottom == 0 else f"{top}/{bottom}"


# English number words: "forty-six" → 46. Not "one": mostly a pronoun or an article ("one pencil
# costs…", "the one"), like the Chinese 一.
_EN_UNITS = {
    word: i
    for i, word in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
        ]
    )
}
_EN_TENS = {
    word: 10 * i
    for i, word in enumerate(["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"], 2)
}
_UNIT_WORDS = "|".join(w for w in _EN_UNITS if w != "zero")
_EN_NUMBER = re.compile(
    rf"\b(?:({'|'.join(_EN_TENS)})(?:[- ]({_UNIT_WORDS}))?|({'|'.join(_EN_UNITS)}))\b",
    re.IGNORECASE,
)


def _en_number(m: re.Match[str]) -> str:
    if m[3] is not None:
        return m[0] if m[3].lower() == "one" else str(_EN_UNITS[m[3].lower()])
    return str(_EN_TENS[m[1].lower()] + (_EN_UNITS[m[2].lower()] if m[2] else 0))


NUMERAL_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (_ZH_FRACTION, _zh_fraction),
    (_ZH_COUNT, _zh_count),
    (_EN_NUMBER, _en_number),
]
