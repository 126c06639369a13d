"""The difference analysis's bench: its generator makes realistic rows the service's pure functions
align, assess and align again from their stored form."""

import pytest

from regstd.bench.analysis import generate_rows, run
from regstd.harmonization.domain.limits import ImportRejected, ParameterTable, rows_from_dicts

TABLE = ParameterTable()


def test_the_bench_generator_makes_aligned_rows_across_eleven_regions() -> None:
    generated = generate_rows(rows=2200)
    assert len({r.region for r in generated}) == 11
    report = run(generated)
    assert report.comparisons
    assert all(len(c.values) + len(c.without_limit) == 11 for c in report.comparisons)


def test_stored_rows_align_again_to_the_same_rows_and_an_unknown_stored_unit_is_named() -> None:
    imported = generate_rows(rows=2200)
    by_region: dict[str, list[dict[str, object]]] = {}
    for row in imported:
        by_region.setdefault(row.region, []).append(row.to_dict())
    again = [r for region, stored in by_region.items() for r in rows_from_dicts(stored, region, TABLE)]
    assert again == imported
    broken = [*by_region["51"][:2], {**by_region["51"][2], "unit": "ppm"}]
    with pytest.raises(ImportRejected) as rejected:
        rows_from_dicts(broken, "51", TABLE)
    assert [(e.line, e.reason) for e in rejected.value.errors] == [(broken[2]["line"], "unknown unit 'ppm'")]
