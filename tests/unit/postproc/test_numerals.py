from __future__ import annotations

import pytest

from services.postproc.checks.numbers import normalize


@pytest.mark.parametrize(
    ("text", "read"),
    [
        pytest.param("鸡有二十三只", "鸡有23只", id="count-before-measure-word"),
        pytest.param("一百零五个人", "105个人", id="hundreds"),
        pytest.param("剪去三分之一", "剪去1/3", id="fraction"),
        pytest.param("答案是十二。", "答案是12。", id="end-of-clause"),
        pytest.param("三加四等于七", "3+4 = 7", id="operators"),
        pytest.param("这两个数", "这两个数", id="these-two-is-not-a-value"),
        pytest.param("第二个", "第二个", id="ordinal"),
        pytest.param("一共有一个", "一共有一个", id="lone-yi-is-an-article"),
        pytest.param("十分简单", "十分简单", id="shifen-means-very"),
        pytest.param("Forty-six legs", "46 legs", id="english-tens-and-units"),
        pytest.param("twelve eggs and seven", "12 eggs and 7", id="english-units"),
        pytest.param("One pencil costs 12 dollars", "One pencil costs 12 dollars", id="one-is-a-pronoun"),
        pytest.param("someone often", "someone often", id="inside-words"),
    ],
)
def test_numerals_become_digits(text: str, read: str) -> None:
    assert normalize(text).text == read


def test_numerals_keep_offsets_into_the_original() -> None:
    norm = normalize("还剩八米。")
    start = norm.text.index("8")
    assert norm.span(start, start + 1) == (2, 3)
