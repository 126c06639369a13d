"""Settings of the publication service, from `REGSTD_*` environment variables."""

from regstd.runtime.settings import RuntimeSettings


class PublicationSettings(RuntimeSettings):
    """The publication service's settings: its own name and its own database."""

    service_name: str = "publication"
    mongo_database: str = "regstd_publication"
