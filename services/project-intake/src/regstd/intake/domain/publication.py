"""What became of a finally approved project at publication: published under its numbers, or refused
with the rule it broke. Publication says one of them for every final approval (`StandardPublished`
with the project's id, or `ApprovalRefused`); intake keeps it on the project, for the people who
follow it."""

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from regstd.contracts.publication import ApprovalRefused, RefusalRule, StandardPublished


class PublicationOutcome(BaseModel):
    """How publication answered the project's final approval."""

    model_config = ConfigDict(frozen=True)

    outcome: Literal["published", "refused"]
    at: AwareDatetime = Field(description="When publication published the standard or refused.")
    standard_id: str = Field(description="The standard's id (for a refusal: the id it would have had).")
    numbers: list[str] = Field(
        default_factory=list, description="When published: the standard's number under every party's code."
    )
    rule: RefusalRule | None = Field(default=None, description="When refused: the rule, as a stable code.")
    reason: str | None = Field(default=None, description="When refused: why, in plain words.")

    @classmethod
    def published(cls, event: StandardPublished) -> "PublicationOutcome":
        """The project became this standard."""
        return cls(
            outcome="published",
            at=event.published_at,
            standard_id=event.standard_id,
            numbers=[n.number for n in event.numbers],
        )

    @classmethod
    def refused(cls, event: ApprovalRefused) -> "PublicationOutcome":
        """Publication will not number the project, for this reason."""
        return cls(
            outcome="refused",
            at=event.refused_at,
            standard_id=event.standard_id,
            rule=event.rule,
            reason=event.reason,
        )

    def replaces(self, known: "PublicationOutcome | None") -> bool:
        """Whether this outcome is what the project shows instead of the one it has: a standard once
        published stays the answer (a later refusal cannot unpublish it); otherwise the later wins."""
        if known is None:
            return True
        if known.outcome == "published" and self.outcome == "refused":
            return False
        if self.outcome == "published" and known.outcome == "refused":
            return True
        return self.at > known.at

    def describe(self) -> str:
        """The outcome in words."""
        if self.outcome == "published":
            return f"published as {' = '.join(self.numbers)}"
        return f"refused by publication: {self.reason}"
