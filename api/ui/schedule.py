"""Visits in the protocol's schedule order (baseline, infusion, week 1, week 4 … week 48), by the
protocol's nominal day, and named by the protocol's label; a visit done or missed is shown as
such. Visit ids sort wrongly as text ("week_12" before "week_4"), so every page that lists visits
orders them here."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from domain.protocol import Protocol

T = TypeVar("T")
_WEEK = re.compile(r"^week_(\d+)$")


class Schedule:
    """The protocol's visits by day; a visit the protocol does not name (an older protocol's, or
    none adopted yet) goes by the number in "week_N", after the named ones, else last by id."""

    def __init__(self, protocol: Protocol | None) -> None:
        visits = protocol.visits if protocol is not None else []
        self.days = {v.id: v.day for v in visits}
        self.labels = {v.id: v.label for v in visits}

    def key(self, visit: str) -> tuple[int, float, str]:
        if visit in self.days:
            return 0, float(self.days[visit]), visit
        week = _WEEK.match(visit)
        return (1, float(week.group(1)) * 7, visit) if week else (2, 0.0, visit)

    def sort(self, items: Iterable[T], visit: Callable[[T], Any] = str) -> list[T]:
        return sorted(items, key=lambda item: self.key(str(visit(item))))

    def label(self, visit: Any) -> str:
        """"Week 4" for week_4; an unknown id as it was recorded."""
        text = str(visit)
        if text in self.labels:
            return self.labels[text]
        week = _WEEK.match(text)
        return f"Week {week.group(1)}" if week else text

    def rows(self, done: Iterable[Mapping[str, Any]], missed: Iterable[Mapping[str, Any]],
             infusions: Iterable[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
        """Every visit of the protocol in order with what became of it: done (on a day), missed
        (and why) or not done yet; a visit done or missed that the protocol does not name too.
        The infusion day is done by the first infusion; visits before the follow-up that no
        visit record names claim nothing (their data stand in the tables below)."""
        out: dict[str, dict[str, Any]] = {
            visit: {"visit": visit, "label": self.label(visit),
                    "status": "not done" if day > 0 else "—", "detail": None, "record_hash": None}
            for visit, day in self.days.items()}
        first = next(iter(infusions), None)
        infusion_day = next((v for v, day in self.days.items() if day == 0), None)
        if first is not None and infusion_day is not None:
            started = str(first.get("started_at") or "")
            out[infusion_day].update(status="done", detail=started[:10] or None,
                                     record_hash=first.get("record_hash"))
        for entry, status, detail in ((*((d, "done", "on") for d in done),
                                       *((m, "missed", "reason") for m in missed))):
            visit = str(entry.get("visit"))
            out[visit] = {"visit": visit, "label": self.label(visit), "status": status,
                          "detail": entry.get(detail), "record_hash": entry.get("record_hash")}
        return self.sort(out.values(), lambda row: row["visit"])

    def field(self, field: Any) -> str:
        """A lab field "week_4/CREAT" as "Week 4 · CREAT"."""
        text = str(field)
        visit, _, rest = text.partition("/")
        return f"{self.label(visit)} · {rest}" if rest else self.label(text)
