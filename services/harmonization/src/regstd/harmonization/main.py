"""Entry point and wiring of the harmonization service: one place that builds the runtime, the
stores, the consumer of publication events and the HTTP app."""

from regstd.contracts.publication import StandardPublished, StandardSuperseded, StandardWithdrawn
from regstd.contracts.reference import Reference, load_reference
from regstd.contracts.topics import PUBLICATION_STANDARDS
from regstd.harmonization.adapters.mongo import MongoEcoStandardListing, MongoLimitImports
from regstd.harmonization.app.adoptions import Adoptions, eco_standards
from regstd.harmonization.app.analysis import Analysis, assessments
from regstd.harmonization.http import adoption, analysis
from regstd.harmonization.settings import HarmonizationSettings
from regstd.kernel.time import Now, utc_now
from regstd.runtime.asyncapi import DOCUMENTED_BOOTSTRAP, Document, app_document
from regstd.runtime.auth import TokenBook
from regstd.runtime.bootstrap import Runtime
from regstd.runtime.http import create_app, serve_service

DESCRIPTION = """\
Eco-standard adoption (采信) across the Yangtze River Economic Belt, and the difference analysis
(差异分析评估) of regions' environmental limits.

A member's published eco-civilization standard (`StandardPublished` with the flag, or of category
environment or ecology, on `regstd.publication.standards.v1`) is offered to every other member
(`AdoptionOffered` on `regstd.harmonization.adoptions.v1`); each member's regulator records its
decision (`AdoptionDecided`); when the source is withdrawn or superseded every adopter is told
(`AdoptedSourceChanged`). Regions import their limits (CSV or JSON, all or nothing) and assessments
compare them (`AssessmentCompleted` on `regstd.harmonization.assessments.v1`).

Send a token from the token book as `Authorization: Bearer <token>`. Any principal reads; a
regulator decides and imports only for its own region.
"""


class HarmonizationService:
    """One instance of the service, wired: runtime, stores, use cases and HTTP app."""

    def __init__(
        self,
        settings: HarmonizationSettings,
        tokens: TokenBook,
        *,
        reference: Reference | None = None,
        clock: Now = utc_now,
        runtime: Runtime | None = None,
    ) -> None:
        self.settings = settings
        self.runtime = runtime or Runtime(settings)
        self.reference = reference or load_reference()
        standards = self.runtime.aggregate_store("eco_standards")
        self.listing = MongoEcoStandardListing(standards)
        self.imports = MongoLimitImports(self.runtime.database["limit_imports"])
        self.adoptions = Adoptions(
            eco_standards(standards, clock),
            self.listing,
            self.reference,
            area=settings.adoption_area,
            eco_categories=settings.eco_categories,
        )
        self.analysis = Analysis(
            self.imports,
            assessments(self.runtime.aggregate_store("assessments"), clock),
            self.reference,
            max_import_rows=settings.max_import_rows,
        )
        self.runtime.consume(
            PUBLICATION_STANDARDS,
            settings.consumer_group,
            {
                StandardPublished: self.adoptions.on_published,
                StandardWithdrawn: self.adoptions.on_withdrawn,
                StandardSuperseded: self.adoptions.on_superseded,
            },
        )
        self.app = create_app(
            title="regstd harmonization",
            description=DESCRIPTION,
            runtime=self.runtime,
            tokens=tokens,
            routers=[adoption.router, analysis.router],
            uses=[self.adoptions, self.analysis],
            prepare=[self.ensure_indexes],
            upload_limits={"/limits/imports": settings.max_import_bytes},
        )

    async def ensure_indexes(self) -> None:
        """Indexes of the registry and the imports (idempotent)."""
        await self.listing.ensure_indexes()
        await self.imports.ensure_indexes()


def main() -> None:
    """Run one instance of the service until SIGTERM or SIGINT."""
    serve_service(
        HarmonizationSettings(), lambda settings, tokens: HarmonizationService(settings, tokens).app
    )


def asyncapi() -> Document:
    """The service's AsyncAPI document as `make schemas` exports it (no broker or store contacted)."""
    service = HarmonizationService(HarmonizationSettings(), TokenBook([]))
    return app_document(service.app, DOCUMENTED_BOOTSTRAP)
