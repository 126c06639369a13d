"""The one way the console shows a moment: in China time, as people there read it."""

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

CHINA = timezone(timedelta(hours=8), "CST")
"""China Standard Time. A fixed offset, not a tz database entry: China keeps no summer time, and
the console then needs no time zone data on the machine."""


def china_time(value: Any) -> str:
    """A moment (an aware datetime or its ISO text, as the services answer) in China time,
    `2026-12-03 13:05`; a naive moment is read as UTC (the services store UTC). A calendar date
    is already a China date and is shown as it is; nothing gives `—`."""
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        return value.isoformat()
    else:
        text = str(value)
        if len(text) <= 10:
            return text  # a calendar date (CST already)
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
