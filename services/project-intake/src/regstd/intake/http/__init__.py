"""The HTTP API of project intake: module-level routers (`projects`, `clocks`) that get the service's
`Intake` through `regstd.runtime.http.provide`."""

from typing import Annotated

from fastapi import Depends

from regstd.intake.app.intake import Intake
from regstd.runtime.http import provide

Cases = Annotated[Intake, Depends(provide(Intake))]
"""Inject the app's use cases into a route."""
