"""The overlap check on Chinese titles and scopes: character bigrams, cosine, title weighted more."""

import pytest

from regstd.intake.domain.overlap import Candidate, bigrams, cosine, find_overlaps, similarity

TITLE = "川渝地区公路沥青路面养护技术规范"
SCOPE = "本文件规定了川渝地区公路沥青路面日常养护、预防养护和修复养护的技术要求。"


def test_chinese_text_becomes_character_bigrams_without_punctuation_or_boilerplate() -> None:
    assert bigrams("沥青路面，养护技术规范") == {"沥青": 1, "青路": 1, "路面": 1, "养护": 1}
    assert bigrams("GB 50092 沥青") == {"gb": 1, "50092": 1, "沥青": 1}
    assert bigrams("规范") == {}


def test_a_near_duplicate_title_scores_high() -> None:
    score = similarity(TITLE, SCOPE, "成渝地区高速公路沥青路面养护技术规范", None)
    assert score > 0.7


def test_an_unrelated_title_scores_low() -> None:
    assert similarity(TITLE, SCOPE, "地理标志产品 涪陵榨菜", None) == 0
    # Sharing only the genre's words (技术规范) and one common word is not an overlap.
    assert (
        similarity(TITLE, SCOPE, "城市道路照明设施养护技术规范", "本文件规定了城市道路照明设施的养护要求。")
        < 0.25
    )


def test_the_title_weighs_more_than_the_scope() -> None:
    same_title = similarity(TITLE, SCOPE, TITLE, "本文件规定了川菜烹饪的术语和操作流程。")
    same_scope = similarity(TITLE, SCOPE, "川菜烹饪技艺 回锅肉", SCOPE)
    assert same_title == pytest.approx(0.7, abs=0.05)
    assert same_scope == pytest.approx(0.3, abs=0.05)


def test_identical_text_scores_one_and_empty_text_zero() -> None:
    assert cosine(bigrams(TITLE), bigrams(TITLE)) == pytest.approx(1.0)
    assert cosine(bigrams(TITLE), bigrams("")) == 0


def test_matches_above_the_threshold_come_best_first_up_to_the_limit() -> None:
    candidates = [
        Candidate("project", "prj-unrelated", "地理标志产品 涪陵榨菜", "本文件规定了涪陵榨菜的要求。"),
        Candidate("standard", "std-1", "成渝地区高速公路沥青路面养护技术规范", number="DB50/T 10003—2025"),
        Candidate("project", "prj-same", TITLE, SCOPE),
        Candidate("project", "prj-near", "公路沥青路面预防养护技术规范", "公路沥青路面预防养护的技术要求"),
    ]
    matches = find_overlaps(TITLE, SCOPE, candidates)
    assert [m.ref for m in matches] == ["prj-same", "std-1", "prj-near"]
    assert matches[0].score == 1.0
    assert matches[1].number == "DB50/T 10003—2025"
    assert all(m.score >= 0.25 for m in matches)

    assert [m.ref for m in find_overlaps(TITLE, SCOPE, candidates, limit=1)] == ["prj-same"]
    assert [m.ref for m in find_overlaps(TITLE, SCOPE, candidates, threshold=0.99)] == ["prj-same"]
    assert find_overlaps(TITLE, SCOPE, []) == []
