"""Entry point of the publication service."""

from regstd.publication.settings import PublicationSettings
from regstd.runtime.bootstrap import run_service


def main() -> None:
    """Run one instance of the publication service until interrupted."""
    run_service(PublicationSettings())
