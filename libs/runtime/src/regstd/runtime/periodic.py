"""Work a service repeats in the background (firing due clocks, publishing due
standards): run now, then every interval, survive a failing round, stop cleanly."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)


class Periodic:
    """A named round of work repeated every `interval_s` seconds while started."""

    def __init__(self, name: str, work: Callable[[], Awaitable[Any]], interval_s: float) -> None:
        self.name = name
        self.work = work
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Rounds until cancelled; a failing round is logged and tried again at the next interval."""
        while True:
            try:
                await self.work()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "a background round failed; trying again after the interval", extra={"work": self.name}
                )
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        """Run in the background (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=self.name)

    async def stop(self) -> None:
        """Stop after the current round is cancelled (idempotent)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
