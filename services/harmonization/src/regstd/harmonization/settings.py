"""Settings of the harmonization service, from `REGSTD_*` environment variables."""

from regstd.runtime.settings import RuntimeSettings


class HarmonizationSettings(RuntimeSettings):
    """The harmonization service's settings: its own name and its own database."""

    service_name: str = "harmonization"
    mongo_database: str = "regstd_harmonization"
