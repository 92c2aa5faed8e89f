"""Transplant-free survival (Kaplan–Meier) and the adverse-event counts, from the participants'
states (docs/clinical.md, "Survival and safety summaries").

- Time origin: the first infusion's day; only treated participants count.
- Event: death or liver transplant, whichever comes first (a death after a transplant is not a
  second event; on the same day the transplant is the event).
- Otherwise censored at the last day known alive and transplant-free: the latest of the visits,
  the samples, the study exit's date and the vital status records (`known_alive_on`, and the
  record's date when it says alive), never before the origin.
- A participant whose event or origin has no date left (a redacted record) cannot be placed on
  the time axis: counted as `not_evaluable`, not censored (that would bias the curve upwards).

Per arm only when the caller may see arms: a blinded role's answer holds no arm anywhere, not
even as a key, and no participant list (an order could tell something).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from fractions import Fraction
from typing import Any, get_args

from domain.adverse_events import SpecialInterest
from domain.participant import ParticipantState
from domain.protocol import Protocol
from projections.flow import arm_order, first_outcome

ENDPOINT = "transplant_free_survival"
ORIGIN = "first_infusion"
#: WHO-UMC terms that mean "a reasonable possibility" (docs/clinical.md, R42).
RELATED = frozenset({"certain", "probable", "possible"})
SPECIAL_INTEREST: tuple[str, ...] = get_args(SpecialInterest)
GRADES = (1, 2, 3, 4, 5)


# -- survival times ----------------------------------------------------------------------------

def survival_times(states: Mapping[str, ParticipantState]) -> list[dict[str, Any]]:
    """One row per treated participant, sorted by id: `participant_id`, `arm`, `origin` (the first
    infusion's day), `day` (days from the origin; None when not evaluable), `event`, `kind`
    (`death`, `transplant`, `censored`), `event_on`, `censored_on`."""
    return [_time(pid, s) for pid, s in sorted(states.items()) if s.infusions]


def _time(pid: str, state: ParticipantState) -> dict[str, Any]:
    row: dict[str, Any] = {"participant_id": pid, "arm": state.arm, "origin": None, "day": None,
                           "event": False, "kind": "censored", "event_on": None,
                           "censored_on": None}
    origin = min((d for d in (_day(i.get("started_at")) for i in state.infusions) if d),
                 default=None)
    event = first_outcome(state)  # transplant-free survival ends at the first of them
    if event is not None:
        kind, on = event
        row.update(event=True, kind=kind, event_on=_iso(on))
        if origin is not None and on is not None:
            row.update(origin=origin.isoformat(), day=(on - origin).days)
        return row
    if origin is None:
        return row
    last = max([origin, *_known_alive(state)])
    return {**row, "origin": origin.isoformat(), "day": (last - origin).days,
            "censored_on": last.isoformat()}


def _known_alive(state: ParticipantState) -> Iterable[date]:
    """Every day the participant was known alive and transplant-free."""
    for visit in state.visits:
        yield from _dated(visit.get("on"))
    for lab in state.labs.values():
        yield from _dated(lab.get("sampled_at"))
    yield from _dated((state.disposition or {}).get("on"))
    for record in state.vital_status:
        yield from _dated(record.get("known_alive_on"))
        if record.get("status") == "alive":
            yield from _dated(record.get("on"))


# -- Kaplan–Meier ------------------------------------------------------------------------------

def kaplan_meier(times: Sequence[tuple[int, bool]]) -> list[dict[str, Any]]:
    """The product-limit estimate over (day, event) pairs: one row per day with an event or a
    censoring, `survival` = ∏ over event days tᵢ ≤ day of (1 − dᵢ/nᵢ), computed exactly.
    nᵢ counts everyone whose time is tᵢ or later: those censored at tᵢ are at risk at tᵢ
    (events before censorings on a tied day)."""
    return _estimate(times)[0]


def median_survival(times: Sequence[tuple[int, bool]]) -> int | None:
    """The first day the estimate is at or below one half; None while it stays above."""
    return _estimate(times)[1]


def _estimate(times: Sequence[tuple[int, bool]]) -> tuple[list[dict[str, Any]], int | None]:
    events = Counter(day for day, event in times if event)
    censored = Counter(day for day, event in times if not event)
    at_risk, survival, median = len(times), Fraction(1), None
    rows: list[dict[str, Any]] = []
    for day in sorted(events.keys() | censored.keys()):
        d, c = events[day], censored[day]
        if d:
            survival *= Fraction(at_risk - d, at_risk)
            if median is None and survival <= Fraction(1, 2):
                median = day
        rows.append({"day": day, "at_risk": at_risk, "events": d, "censored": c,
                     "survival": float(survival)})
        at_risk -= d + c
    return rows, median


def survival(states: Mapping[str, ParticipantState], *, show_arms: bool,
             protocol: Protocol | None = None) -> dict[str, Any]:
    """Transplant-free survival over `states` (already scoped to what the caller may see): the
    pooled curve always; per arm (in the protocol's order) only if `show_arms`."""
    times = survival_times(states)
    out: dict[str, Any] = {"endpoint": ENDPOINT, "origin": ORIGIN, **_curve(times)}
    if show_arms:
        arms = arm_order(protocol, states.values())
        out["arms"] = arms
        out["per_arm"] = {a: _curve([t for t in times if t["arm"] == a]) for a in arms}
    return out


def _curve(times: list[dict[str, Any]]) -> dict[str, Any]:
    placed = [(int(t["day"]), bool(t["event"])) for t in times if t["day"] is not None]
    rows, median = _estimate(placed)
    kinds = Counter(t["kind"] for t in times if t["day"] is not None)
    return {"participants": len(times),
            "events": {"death": kinds["death"], "transplant": kinds["transplant"],
                       "total": kinds["death"] + kinds["transplant"]},
            "censored": kinds["censored"], "not_evaluable": len(times) - len(placed),
            "median_day": median, "rows": rows}


# -- adverse events ----------------------------------------------------------------------------

def ae_summary(states: Mapping[str, ParticipantState], *, show_arms: bool,
               protocol: Protocol | None = None) -> dict[str, Any]:
    """Adverse events as they stand now, counted as events and as participants with at least one,
    by CTCAE grade, seriousness, relationship (related: certain, probable or possible to the
    cells or to the procedure) and event of special interest; pooled over every participant in
    `states`, per arm (the arm received) only if `show_arms`."""
    ordered = sorted(states.items())
    out = _ae_counts([s for _, s in ordered])
    if show_arms:
        arms = arm_order(protocol, states.values())
        out["arms"] = arms
        out["per_arm"] = {a: _ae_counts([s for _, s in ordered if s.arm == a]) for a in arms}
    return out


def related(event: Mapping[str, Any]) -> bool:
    return (event.get("relationship_cells") in RELATED
            or event.get("relationship_procedure") in RELATED)


def _ae_counts(group: list[ParticipantState]) -> dict[str, Any]:
    events = [(n, e) for n, s in enumerate(group) for e in s.adverse_events.values()]
    worst = Counter(max(_grade(e) for e in s.adverse_events.values())
                    for s in group if s.adverse_events)
    return {
        "participants": len(group),
        "treated": sum(1 for s in group if s.infusions),
        "events": len(events),
        "participants_with_event": sum(1 for s in group if s.adverse_events),
        "by_grade": _by(events, lambda e: str(_grade(e)), [str(g) for g in GRADES]),
        # each participant once, at the worst grade of their events (sums to those with one)
        "participants_by_worst_grade": {str(g): worst[g] for g in GRADES},
        "by_seriousness": _by(events, lambda e: "serious" if e.get("serious") is True
                              else "not_serious", ["serious", "not_serious"]),
        "by_relationship": _by(events, lambda e: "related" if related(e) else "not_related",
                               ["related", "not_related"]),
        "by_special_interest": _by(events, lambda e: e.get("special_interest"),
                                   SPECIAL_INTEREST),
    }


def _by(events: Sequence[tuple[int, Mapping[str, Any]]],
        label: Callable[[Mapping[str, Any]], object], keys: Sequence[str]) -> dict[str, Any]:
    """Per label: the events with it, and the participants (numbered) with at least one."""
    hits: dict[str, list[int]] = {k: [] for k in keys}
    for n, event in events:
        key = label(event)
        if isinstance(key, str) and key in hits:
            hits[key].append(n)
    return {k: {"events": len(ns), "participants": len(set(ns))} for k, ns in hits.items()}


def _grade(event: Mapping[str, Any]) -> int:
    grade = event.get("grade")
    return grade if isinstance(grade, int) and not isinstance(grade, bool) else 0


# -- dates -------------------------------------------------------------------------------------

def _day(value: object) -> date | None:
    """A calendar day from a date, or an ISO date or date-time (its own offset's day)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).date() if "T" in value else date.fromisoformat(value)
    except ValueError:
        return None


def _dated(value: object) -> Iterable[date]:
    day = _day(value)
    return () if day is None else (day,)


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()
