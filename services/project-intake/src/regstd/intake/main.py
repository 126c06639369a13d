"""Entry point of the project-intake service."""

from regstd.intake.settings import IntakeSettings
from regstd.runtime.bootstrap import run_service


def main() -> None:
    """Run one instance of the project-intake service until interrupted."""
    run_service(IntakeSettings())
