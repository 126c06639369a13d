"""The topic registry: every topic regstd writes, with its partition count.

Names follow `regstd.<service>.<aggregate-plural>.v<major>`; dead letters go to `<topic>.dlq`.
Topics are declared explicitly at start-up with these partition counts, never auto-created.
"""

from dataclasses import dataclass

DEAD_LETTER_SUFFIX = ".dlq"


@dataclass(frozen=True)
class Topic:
    """A Kafka topic owned by one service, keyed by the id of one aggregate."""

    name: str
    owner: str
    partitions: int

    @property
    def dead_letter(self) -> str:
        """The topic that receives this topic's undeliverable messages."""
        return self.name + DEAD_LETTER_SUFFIX


INTAKE_PROJECTS = Topic("regstd.intake.projects.v1", owner="project-intake", partitions=6)
PUBLICATION_STANDARDS = Topic("regstd.publication.standards.v1", owner="publication", partitions=6)
HARMONIZATION_ASSESSMENTS = Topic("regstd.harmonization.assessments.v1", owner="harmonization", partitions=3)
HARMONIZATION_ADOPTIONS = Topic("regstd.harmonization.adoptions.v1", owner="harmonization", partitions=6)

TOPICS: dict[str, Topic] = {
    t.name: t
    for t in (
        INTAKE_PROJECTS,
        PUBLICATION_STANDARDS,
        HARMONIZATION_ASSESSMENTS,
        HARMONIZATION_ADOPTIONS,
    )
}
