"""How projects and published standards are kept in their documents (the unit of work's codecs)."""

from collections.abc import Mapping
from typing import Any

from regstd.intake.domain.project import Project
from regstd.intake.domain.published import PublishedStandard
from regstd.runtime.unit_of_work import Codec


def _project(_: str, state: Mapping[str, Any]) -> Project:
    return Project.from_document(dict(state))


def _standard_state(standard: PublishedStandard) -> dict[str, Any]:
    # The document's `_id` is the standard id: the state holds the rest, as it always has.
    return standard.model_dump(mode="python", exclude={"standard_id"})


def _standard(standard_id: str, state: Mapping[str, Any]) -> PublishedStandard:
    return PublishedStandard.model_validate({**state, "standard_id": standard_id})


PROJECTS: Codec[Project] = Codec(to_state=Project.to_document, from_state=_project)
"""A project is its `to_document`, with the clock scheduler's fields beside it."""

STANDARDS: Codec[PublishedStandard] = Codec(to_state=_standard_state, from_state=_standard)
"""A published standard is a flat row keyed by its standard id."""
