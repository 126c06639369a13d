"""Entry point of the harmonization service."""

from regstd.harmonization.settings import HarmonizationSettings
from regstd.runtime.bootstrap import run_service


def main() -> None:
    """Run one instance of the harmonization service until interrupted."""
    run_service(HarmonizationSettings())
