"""What a regulator may propose (立项申请), and what a revision (修订) needs of the standard it revises."""

import hashlib
import re
import uuid

from pydantic import BaseModel, ConfigDict, Field

from regstd.contracts.common import Kind, RegionCode
from regstd.contracts.reference import Area, Reference
from regstd.intake.domain.published import PublishedStandard
from regstd.kernel.errors import Conflict, Forbidden, Invalid
from regstd.kernel.principals import Principal

ProjectId = str

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SLUG = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")


def new_project_id(seed: str | None = None) -> ProjectId:
    """A fresh project id: `prj-` and twelve hex digits, random, or drawn from a seed that a retry
    of the same request repeats (so the retry finds the project it made instead of making one more)."""
    if seed is not None:
        return f"prj-{hashlib.sha256(seed.encode()).hexdigest()[:12]}"
    return f"prj-{uuid.uuid4().hex[:12]}"


class Proposal(BaseModel):
    """What a regulator proposes (立项申请): the standard to make and the parties that make it."""

    model_config = ConfigDict(frozen=True)

    area: str = Field(
        min_length=1, max_length=32, description="Cooperation area id: chengyu, yrd or yangtze."
    )
    parties: list[RegionCode] = Field(
        min_length=1,
        max_length=32,
        description="Region codes of the parties, at least two distinct members of the area; the "
        "proposing regulator's region must be one of them.",
        examples=[["50", "51"]],
    )
    title_zh: str = Field(
        min_length=1, max_length=500, description="Chinese title; must contain Chinese characters."
    )
    title_en: str | None = Field(default=None, max_length=500, description="English title, optional.")
    scope: str = Field(min_length=1, max_length=5000, description="Scope (范围): what the standard covers.")
    category: str = Field(
        min_length=1,
        max_length=64,
        description="Subject category as a lowercase slug: transport, agriculture, environment, …",
        examples=["transport"],
    )
    kind: Kind = Field(description="recommended (推荐性, DB50/T …) or mandatory (强制性, DB50 …).")
    eco_civilization: bool = Field(
        default=False, description="An eco-civilization (生态文明) standard, open to adoption."
    )
    proposing_organisations: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Organisations that propose the project (提出单位), optional.",
    )
    supersedes: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="For a revision (修订), e.g. after a review concluded `revise`: the id of the "
        "published standard it revises. It needs the same area and parties; the published revision "
        "keeps that standard's sequence number, takes the new year and supersedes it.",
    )


def check_proposal(proposal: Proposal, reference: Reference, proposer: Principal) -> Area:
    """Refuse a proposal that breaks the rules; return its area. Changes nothing."""
    proposer.require_regulator()
    try:
        area = reference.area(proposal.area)
    except KeyError:
        raise Invalid(
            f"unknown area {proposal.area!r}; the areas are {', '.join(sorted(reference.areas))}"
        ) from None
    if area.joint_number_block_first is None:
        # Publication numbers a joint standard from its area's block: without one the project could
        # pass every ballot and never be published.
        raise Invalid(
            f"joint projects are only for areas with a joint number block "
            f"({', '.join(joint_areas(reference))}); {area.id} ({area.name_zh}) has none, so a joint "
            "standard of it could never be numbered"
        )
    if not _HAN.search(proposal.title_zh):
        raise Invalid("title_zh must be a Chinese title: it contains no Chinese characters")
    if not _SLUG.match(proposal.category):
        raise Invalid(
            f"category {proposal.category!r} must be a lowercase slug such as transport or "
            "agriculture (letters, digits, '-' or '_')"
        )
    repeated = sorted({p for p in proposal.parties if proposal.parties.count(p) > 1})
    if repeated:
        raise Invalid(f"each party may be named once; named more than once: {', '.join(repeated)}")
    outsiders = [p for p in proposal.parties if p not in area.parties]
    if outsiders:
        raise Invalid(
            f"{', '.join(outsiders)} {'is' if len(outsiders) == 1 else 'are'} not a member of "
            f"{area.id} ({area.name_zh}); its members are {', '.join(area.parties)}"
        )
    if len(proposal.parties) < area.min_parties:
        raise Invalid(
            f"a joint project of {area.id} needs at least {area.min_parties} distinct parties "
            f"from {', '.join(area.parties)}; got {len(proposal.parties)}"
        )
    if proposer.code not in proposal.parties:
        raise Forbidden(
            f"the regulator of region {proposer.code} may propose only a project its region takes "
            f"part in; the proposed parties are {', '.join(proposal.parties)}"
        )
    if any(not o.strip() for o in proposal.proposing_organisations):
        raise Invalid("proposing_organisations may not contain an empty name")
    return area


def joint_areas(reference: Reference) -> list[str]:
    """The areas whose joint standards can be numbered: those with a joint number block."""
    return sorted(a.id for a in reference.areas.values() if a.joint_number_block_first is not None)


def check_revision(proposal: Proposal, revised: PublishedStandard | None) -> None:
    """A revision names a published standard still current (not abolished, withdrawn or superseded),
    of the same area and parties (it keeps its number)."""
    if revised is None:
        raise Invalid(f"supersedes names {proposal.supersedes}, which is not a published standard")
    check_revisable(revised)
    if revised.area != proposal.area or set(revised.parties) != set(proposal.parties):
        raise Invalid(
            f"a revision of {proposal.supersedes} keeps its number, so it needs its area ({revised.area}) "
            f"and parties ({', '.join(revised.parties)})"
        )


def check_revisable(revised: PublishedStandard) -> None:
    """Only a standard still current may be revised (409 otherwise): an abolished, withdrawn or
    superseded one has nothing left to revise (a superseded one's successor is what is revised)."""
    named = f"{revised.standard_id} ({revised.number})" if revised.number else revised.standard_id
    match revised.status:
        case "published":
            return
        case "abolished":
            why = f"it was abolished (废止), effective {revised.status_since}: {revised.status_reason}"
        case "withdrawn":
            why = f"it was withdrawn and its number not issued: {revised.status_reason}"
        case "superseded":
            why = f"it is superseded by {revised.superseded_by}; revise the standard now current instead"
    raise Conflict(f"a revision may target only a published standard still current; {named} is not: {why}")
