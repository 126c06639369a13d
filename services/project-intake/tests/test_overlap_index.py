"""The overlap index: its terms and postings, its ranking, and that a check through it finds what the
full scan of every candidate finds (on data made up by hypothesis)."""

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from regstd.intake.app.intake import Policy
from regstd.intake.domain.overlap import Candidate, candidates_of, find_overlaps
from regstd.intake.domain.overlap_index import Posting, Terms, postings_of, rank, within_budget
from regstd.intake.domain.published import PublishedStandard
from regstd.kernel.principals import Principal

from .conftest import REGULATORS, proposal
from .memory import MemoryIntake, MemoryOverlapIndex

TITLE = "川渝地区公路沥青路面养护技术规范"
SCOPE = "本文件规定了川渝地区公路沥青路面日常养护的技术要求。"


def test_terms_are_the_distinct_bigrams_the_check_compares() -> None:
    terms = Terms.of("沥青路面，沥青路面养护技术规范", "GB 50092 沥青")
    assert terms.title == {"沥青", "青路", "路面", "养护", "面养"}
    assert terms.scope == {"gb", "50092", "沥青"}
    assert "沥青" in terms.all
    assert "gb" in terms.all
    assert Terms.of("技术规范", None) == Terms(frozenset(), frozenset())


def test_a_candidate_is_posted_under_each_term_with_where_it_occurs() -> None:
    postings = postings_of(Candidate("project", "prj-a", "沥青路面", "路面养护"))
    assert set(postings) == {"沥青", "青路", "路面", "面养", "养护"}
    assert postings["沥青"] == Posting("project", "prj-a", True, False, 3, 3)
    assert postings["路面"].in_title
    assert postings["路面"].in_scope
    assert Posting.of_row(postings["养护"].to_row()) == postings["养护"]
    standard = postings_of(Candidate("standard", "std-1", "沥青路面", number="DB50/T 1—2025"))
    assert standard["沥青"] == Posting("standard", "std-1", True, False, 3, 0)


def test_rank_puts_the_likeliest_first_and_counts_a_posting_read_twice_once() -> None:
    candidates = [
        Candidate("project", "prj-same", TITLE, SCOPE),
        Candidate("project", "prj-road", "城市道路照明设施养护技术规范", "城市道路照明设施的养护要求"),
        Candidate("standard", "std-near", "成渝地区高速公路沥青路面养护技术规范"),
        Candidate("project", "prj-none", "地理标志产品 涪陵榨菜", "涪陵榨菜"),
    ]
    postings = [(term, p) for c in candidates for term, p in postings_of(c).items()]
    query = Terms.of(TITLE, SCOPE)
    ranked = rank(query, postings + postings)
    assert ranked == [("project", "prj-same"), ("standard", "std-near"), ("project", "prj-road")]
    assert rank(query, postings, limit=1) == [("project", "prj-same")]
    assert rank(Terms.of("涪陵榨菜", ""), postings) == [("project", "prj-none")]


def test_the_rarest_terms_are_read_within_the_budget_and_always_the_rarest_one() -> None:
    frequencies = {"养护": 900, "沥青": 40, "路面": 300, "青路": 40, "新词": 0}
    assert within_budget(frequencies, 400) == ["新词", "沥青", "青路", "路面"]
    assert within_budget(frequencies, 100) == ["新词", "沥青", "青路"]
    assert within_budget(frequencies, 10_000) == ["新词", "沥青", "青路", "路面", "养护"]
    assert within_budget({"养护": 900}, 10) == ["养护"]
    assert within_budget({}, 10) == []


# Texts from a small alphabet of characters, so that made-up titles share bigrams often.
_CHARS = "沥青路面养护公路桥梁隧道城市照明水质监测农业种植茶叶"
texts = st.text(alphabet=_CHARS + "， ", min_size=1, max_size=14)
titles = st.text(alphabet=_CHARS, min_size=1, max_size=10)


@st.composite
def records(draw: st.DrawFn) -> tuple[list[Candidate], list[PublishedStandard], list[str]]:
    """Projects (some rejected), standards (some published from one of the projects)."""
    projects = [
        Candidate("project", f"prj-{i:03d}", draw(titles), draw(texts))
        for i in range(draw(st.integers(0, 12)))
    ]
    rejected = [p.ref for p in projects if draw(st.booleans()) and draw(st.booleans())]
    standards = []
    for i in range(draw(st.integers(0, 8))):
        from_project = draw(st.sampled_from([None, *(p.ref for p in projects)]))
        standards.append(
            PublishedStandard(
                standard_id=f"std-{i:03d}",
                project_id=from_project,
                area="chengyu",
                parties=["50", "51"],
                title_zh=draw(titles),
                category="transport",
                number=f"DB50/T {i}—2025",
            )
        )
    return projects, standards, rejected


@settings(max_examples=150, deadline=None)
@given(records(), titles, texts, st.sampled_from([0.05, 0.25, 0.5]))
def test_the_check_through_the_index_finds_what_a_full_scan_finds(
    data: tuple[list[Candidate], list[PublishedStandard], list[str]],
    title: str,
    scope: str,
    threshold: float,
) -> None:
    projects, standards, rejected = data
    kept = [p for p in projects if p.ref not in rejected]
    full_scan = find_overlaps(title, scope, candidates_of(standards, kept), threshold=threshold, limit=50)

    index = MemoryOverlapIndex()
    # Rejected projects stay in the index (it is only added to): the check drops them.
    asyncio.run(index.add(projects))
    asyncio.run(index.add([Candidate("standard", s.standard_id, s.title_zh) for s in standards]))
    query = Terms.of(title, scope)
    ranked = rank(query, asyncio.run(index.postings(query)))
    project_ids = {ref for kind, ref in ranked if kind == "project"}
    standard_ids = {ref for kind, ref in ranked if kind == "standard"}
    through_index = find_overlaps(
        title,
        scope,
        candidates_of(
            [s for s in standards if s.standard_id in standard_ids or s.project_id in project_ids],
            [p for p in kept if p.ref in project_ids],
        ),
        threshold=threshold,
        limit=50,
    )
    assert through_index == full_scan


async def test_the_use_case_checks_through_the_index_and_previews_without_storing() -> None:
    world = MemoryIntake(policy=Policy(overlap_candidates=1))
    by: Principal = REGULATORS["50"]
    first = await world.intake.propose(proposal(title_zh=TITLE, scope=SCOPE), by)
    assert first.overlap_matches == []
    assert any(first.project_id == p.ref for ps in world.overlap_index.terms.values() for p in ps)

    preview = await world.intake.preview_overlaps(proposal(title_zh=TITLE, scope=SCOPE), by)
    assert [(m.kind, m.ref, m.score) for m in preview] == [("project", first.project_id, 1.0)]
    assert len(world.project_store.states()) == 1  # the preview stored nothing
    # A project missing from the index is not found: the check reads only what the index names.
    world.overlap_index.terms.clear()
    assert await world.intake.preview_overlaps(proposal(title_zh=TITLE, scope=SCOPE), by) == []
