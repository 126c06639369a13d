"""A shutdown step that never finishes is named in the log and left behind; the others still run."""

import asyncio
import logging

import pytest

from regstd.runtime.bootstrap import stop_within


async def test_a_hung_step_is_logged_by_name_and_the_shutdown_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    finished: list[str] = []

    async def hangs() -> None:
        await asyncio.Event().wait()

    async def quick() -> None:
        finished.append("quick")

    with caplog.at_level(logging.ERROR, logger="regstd.runtime.bootstrap"):
        await stop_within("stuck thing", hangs(), timeout_s=0.05)
        await stop_within("quick thing", quick(), timeout_s=1.0)

    assert finished == ["quick"]
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert getattr(record, "step", None) == "stuck thing"
