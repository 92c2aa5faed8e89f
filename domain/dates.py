"""The one range every observation date must fall in: a birth, consent, assessment, infusion,
visit or sample before 1900 or after tomorrow (of the record time) is a typing slip, never a
fact of this trial. Tomorrow, not today, so that a site ahead of UTC can record its own today;
the deciders that refuse future dates outright keep doing so."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from .facts import Rejection

EARLIEST = date(1900, 1, 1)


def plausible(day: date | datetime, now: datetime, field: str) -> None:
    """Refuse `day` (a date, or a datetime's calendar date) outside 1900-01-01 … tomorrow."""
    on = day.date() if isinstance(day, datetime) else day
    latest = now.date() + timedelta(days=1)
    if not EARLIEST <= on <= latest:
        raise Rejection("date.implausible", f"{field.split('.')[-1]} {on} is outside "
                        f"{EARLIEST} to {latest}", field=field)
