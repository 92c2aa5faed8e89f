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


def past_day(day: date | str, now: datetime, field: str) -> date:
    """`day` (a date, or its ISO text) when it is plausible and not after the record's day;
    else `date.implausible` or `date.in_future`, naming the field."""
    on = date.fromisoformat(day) if isinstance(day, str) else day
    plausible(on, now, field)
    if on > now.date():
        raise Rejection("date.in_future", f"{field.split('.')[-1]} {on} is after today "
                        f"({now.date()})", field=field)
    return on
