"""Settings of the project-intake service, from `REGSTD_*` environment variables."""

from regstd.runtime.settings import RuntimeSettings


class IntakeSettings(RuntimeSettings):
    """The project-intake service's settings: its own name and its own database."""

    service_name: str = "project-intake"
    mongo_database: str = "regstd_intake"
