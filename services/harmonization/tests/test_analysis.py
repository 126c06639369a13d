"""The difference-analysis use cases over storage in memory: a limit import is stored once, all or
nothing; an assessment is stored once per set of inputs with one `AssessmentCompleted`."""

from datetime import UTC, datetime

import pytest

from regstd.contracts.reference import load_reference
from regstd.harmonization.domain.limits import ImportRejected
from regstd.kernel.errors import Forbidden, Invalid, NotFound
from regstd.kernel.principals import Principal

from .memory import InMemory, events

NOW = datetime(2026, 3, 2, 2, 0, 0, 123456, tzinfo=UTC)
HEADER = "standard_number,medium,source_category,parameter,unit,condition,value,national_baseline\n"
CQ = HEADER + "DB50 418—2016,air,锅炉,SO2,mg/m³,1 h,200,300\n"
SC = HEADER + "DB51/2672—2020,大气,锅炉,二氧化硫,µg/m³,1 h,150000,300000\n"


def regulator(code: str) -> Principal:
    return Principal(kind="regulator", code=code, name=f"regulator {code}")


@pytest.fixture
def service() -> InMemory:
    return InMemory(load_reference(), lambda: NOW)


async def test_an_import_is_stored_once_and_a_bad_one_not_at_all(service: InMemory) -> None:
    first = await service.analysis.import_limits(CQ, "csv", regulator("50"))
    again = await service.analysis.import_limits(CQ, "csv", regulator("50"))
    assert (first.created, again.created, first.import_id, first.rows) == (True, False, again.import_id, 1)
    (stored,) = service.imports.docs.values()
    assert stored["imported_at"] == NOW.replace(microsecond=123000)  # as the store keeps it
    bad_unit = CQ + "DB50 418—2016,air,锅炉,SO2,ppm,1 h,1,\n"
    with pytest.raises(ImportRejected):
        await service.analysis.import_limits(bad_unit, "csv", regulator("50"))
    with pytest.raises(Forbidden):
        await service.analysis.import_limits(CQ, "csv", Principal(kind="city", code="500100", name="x"))
    assert [d["_id"] for d in await service.analysis.imports_of(None)] == [first.import_id]


async def test_an_assessment_is_stored_and_announced_once_per_set_of_inputs(service: InMemory) -> None:
    await service.analysis.import_limits(CQ, "csv", regulator("50"))
    with pytest.raises(Invalid, match="region 51 has imported no limits"):
        await service.analysis.run(["50", "51"], ["air"], "strictest", regulator("50"))
    await service.analysis.import_limits(SC, "csv", regulator("51"))
    done = await service.analysis.run(["50", "51"], ["air"], "strictest", regulator("50"))
    again = await service.analysis.run(["51", "50"], ["air"], "strictest", regulator("42"))
    assert again == done
    assert done.requested_by.code == "50"
    assert await service.analysis.get(done.id) == done
    (completed,) = events(service.assessments, "assessment.completed.v1")
    assert (completed["assessment_id"], completed["report_digest"]) == (done.id, done.report_digest)
    other = await service.analysis.run(["50", "51"], ["air"], "median", regulator("50"))
    assert other.id != done.id
    assert len(events(service.assessments, "assessment.completed.v1")) == 2
    with pytest.raises(NotFound, match="no assessment asm-x"):
        await service.analysis.get("asm-x")
