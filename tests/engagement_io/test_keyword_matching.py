"""Finding the keywords of a chat message: Chinese by substring, Latin by whole word."""

from __future__ import annotations

import pytest

from portal.errors import ValidationFailed
from portal.recommendations.keywords import (
    DEFAULT_KEYWORDS,
    default_rows,
    find_matches,
    validate_target,
)

MAP = {
    "报价": ("kind:quote", "tag:pricing"),
    "案例": ("kind:case_study",),
    "客户案例": ("kind:case_study",),
    "case": ("kind:case_study",),
    "price": ("kind:quote",),
    "pricing": ("kind:quote",),
}


def words(text: str) -> list[str]:
    return [m.keyword for m in find_matches(text, MAP)]


def test_chinese_by_substring_with_full_width_punctuation():
    assert words("你好,能发一下报价和类似客户的案例吗?") == ["报价", "案例"]
    assert words("你好，能发一下报价？谢谢！") == ["报价"]


def test_longest_match_first_counts_once():
    assert words("有没有客户案例") == ["客户案例"]
    assert words("客户案例，还有别的案例吗") == ["客户案例", "案例"]


def test_latin_is_case_insensitive_on_word_boundaries():
    assert words("Could you send the PRICE list and a Case study?") == ["price", "case"]
    assert words("showcase prices") == []
    assert words("pricing!") == ["pricing"]
    assert words("发一下price表") == ["price"]


def test_full_width_latin_is_normalized():
    assert words("ＰＲＩＣＥ please") == ["price"]


def test_no_keywords_no_matches():
    assert words("你好") == []
    assert find_matches("报价", {}) == []


def test_targets_are_validated():
    assert validate_target("KIND:quote") == "kind:quote"
    assert validate_target("tag:pricing") == "tag:pricing"
    for bad in ("kind:poster", "tag:", "industry:医疗", "quote"):
        with pytest.raises(ValidationFailed):
            validate_target(bad)


def test_defaults_follow_the_design_and_the_migration():
    import importlib.util
    from pathlib import Path

    path = next(Path("migrations/versions").glob("0005_*.py"))
    spec = importlib.util.spec_from_file_location("migration_0005", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert sorted(module.DEFAULT_KEYWORDS) == sorted(default_rows())
    assert set(DEFAULT_KEYWORDS["kind:case_study"]) == {"案例", "客户案例", "case", "reference"}
