"""The analysis sets and the participant flow (CONSORT), from the participants' states.

Sets (docs/clinical.md, "Analysis sets and the participant flow"):
- randomised (ITT): every randomised participant, in the arm allocated;
- safety: every participant with an infusion record, in the arm received (the infusion's dose is
  checked against the allocated arm when it is recorded, so the arm received is `state.arm`);
- per_protocol: randomised, infused, no major deviation (system or reported) and the primary
  score available at the protocol's last visit;
- completers: the participants whose study exit is `participant.completed`.

The flow runs registered → assessed → screen failed / eligible but not randomised → randomised →
treated / not treated (with the discontinuation reason) → one end state each: completed,
withdrawn (by coded reason), lost to follow-up, died, transplanted, or still in follow-up. Of an
exit and a death or transplant, the one that ended follow-up first is the end state (a death or
transplant on the exit's day, or with no date to compare, wins; a participant who completed and
died later completed); of a transplant and a later death, the transplant.

Per arm only when the caller may see arms: a blinded role's answer holds no arm anywhere, not
even as a key, and its participant lists are sorted by id, so their order tells nothing either.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from domain.deviations import major_deviations
from domain.participant import ParticipantState
from domain.protocol import Protocol
from domain.visit_scores import visit_scores

SETS = ("randomised", "safety", "per_protocol", "completers")
END_STATES = ("completed", "withdrawn", "lost_to_follow_up", "died", "transplanted", "in_follow_up")
EXITS = ("completed", "withdrawn", "lost_to_follow_up")
OUTCOME_END_STATES = {"death": "died", "transplant": "transplanted"}
DEFAULT_SCORE = "MELD"
NOT_CODED = "not_coded"  # an exit or discontinuation recorded without a coded reason
NOT_RECORDED = "not_recorded"  # randomised, no infusion, and no discontinuation recorded


def participant_flow(states: Mapping[str, ParticipantState], *, protocol: Protocol | None,
                     show_arms: bool) -> dict[str, Any]:
    """The analysis sets and the flow over `states` (already scoped to what the caller may see);
    per arm only if `show_arms`."""
    score = (protocol.primary_score if protocol else None) or DEFAULT_SCORE
    last = _last_visit(protocol)
    ordered = sorted(states.items())
    randomised = [(pid, s) for pid, s in ordered if _randomised(s)]
    members = {
        "randomised": randomised,
        "safety": [(pid, s) for pid, s in randomised if s.infusions],
        "per_protocol": [(pid, s) for pid, s in randomised
                         if s.infusions and not _has_major_deviation(s)
                         and _primary_available(s, last, score)],
        "completers": [(pid, s) for pid, s in randomised if _end_state(s) == "completed"],
    }
    arms = arm_order(protocol, (s for _, s in randomised)) if show_arms else []
    sets = {name: _set(group, arms, show_arms) for name, group in members.items()}
    flow = _flow(ordered, randomised)
    if show_arms:
        flow["per_arm"] = {arm: _arm_flow([(p, s) for p, s in randomised if s.arm == arm])
                           for arm in arms}
    out: dict[str, Any] = {"primary_score": score, "last_visit": last, "sets": sets, "flow": flow}
    if show_arms:
        out["arms"] = arms
    return out


def flow_rows(flow: Mapping[str, Any]) -> list[tuple[str, str, str, int]]:
    """The flow as rows (step, detail, arm, count) for a table or a CSV; arm "all" is pooled,
    and the per-arm rows come only when the flow has them."""
    rows = _step_rows(flow, "all", pooled=True)
    for arm, counts in (flow.get("per_arm") or {}).items():
        rows += _step_rows(counts, arm, pooled=False)
    return rows


def set_rows(sets: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    """The analysis sets as rows (set, arm, count): pooled, then per arm when shown."""
    rows = [(name, "all", int(sets[name]["count"])) for name in SETS]
    for name in SETS:
        for arm, part in (sets[name].get("per_arm") or {}).items():
            rows.append((name, arm, int(part["count"])))
    return rows


# -- the sets ----------------------------------------------------------------------------------

def _set(group: list[tuple[str, ParticipantState]], arms: list[str],
         show_arms: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"count": len(group), "participants": [pid for pid, _ in group]}
    if show_arms:
        out["per_arm"] = {arm: {"count": len(ids), "participants": ids} for arm in arms
                          for ids in [[pid for pid, s in group if s.arm == arm]]}
    return out


def _randomised(state: ParticipantState) -> bool:
    # an invalidated randomisation clears the arm: the participant is eligible again
    return state.arm is not None


def _last_visit(protocol: Protocol | None) -> str | None:
    """The protocol's last scheduled visit (the one furthest from the infusion)."""
    if protocol is None or not protocol.visits:
        return None
    return max(protocol.visits, key=lambda v: v.day).id


def _primary_available(state: ParticipantState, visit: str | None, score: str) -> bool:
    if visit is None:
        return False
    result = visit_scores(state, visit).get(score) or {}  # that visit's only, not every visit's
    value = result.get("value")
    return isinstance(value, int | float) and not isinstance(value, bool)


def _has_major_deviation(state: ParticipantState) -> bool:
    # the system's deviations graded major and those reported major, resolved or not
    return bool(major_deviations(state))


def arm_order(protocol: Protocol | None, states: Iterable[ParticipantState]) -> list[str]:
    """The protocol's arms in its order (an arm with no participant yet shows 0), then any arm
    a participant holds that the protocol in force no longer names."""
    named = [a.id for a in protocol.arms] if protocol else []
    extra = sorted({str(s.arm) for s in states if s.arm is not None} - set(named))
    return [*named, *extra]


# -- the flow ----------------------------------------------------------------------------------

def _assessed(state: ParticipantState) -> bool:
    return state.eligible is not None or state.assessed_on is not None or _randomised(state)


def _flow(ordered: list[tuple[str, ParticipantState]],
          randomised: list[tuple[str, ParticipantState]]) -> dict[str, Any]:
    assessed = [s for _, s in ordered if _assessed(s)]
    failed = [s for s in assessed if s.eligible is False and not _randomised(s)]
    waiting = [s for s in assessed if s.eligible is True and not _randomised(s)]
    return {
        "registered": len(ordered),
        "assessed": len(assessed),
        "not_assessed": len(ordered) - len(assessed),
        "screen_failed": {"count": len(failed),
                          "criteria": _sorted_counts(c for s in failed for c in s.failed_criteria)},
        "eligible_not_randomised": len(waiting),
        "awaiting_eligibility": len(assessed) - len(failed) - len(waiting) - len(randomised),
        **_arm_flow(randomised),
    }


def _arm_flow(group: list[tuple[str, ParticipantState]]) -> dict[str, Any]:
    """From randomisation on: treated or not, and the end states, each participant in exactly
    one end state."""
    untreated = [s for _, s in group if not s.infusions]
    ends = Counter(_end_state(s) for _, s in group)
    withdrawn = [s for _, s in group if _end_state(s) == "withdrawn"]
    end_states: dict[str, Any] = {
        "completed": ends["completed"],
        "withdrawn": {"count": ends["withdrawn"],
                      "reasons": _sorted_counts(_reason(s.disposition) for s in withdrawn)},
        "lost_to_follow_up": ends["lost_to_follow_up"],
        "died": ends["died"],
        "transplanted": ends["transplanted"],
        "in_follow_up": ends["in_follow_up"],
    }
    # The invariant of the flow: every randomised participant ends in exactly one box.
    assert sum(ends[e] for e in END_STATES) == len(group) == sum(ends.values()), ends
    return {
        "randomised": len(group),
        "treated": len(group) - len(untreated),
        "not_treated": {"count": len(untreated),
                        "reasons": _sorted_counts(_untreated_reason(s) for s in untreated)},
        "end_states": end_states,
    }


def _end_state(state: ParticipantState) -> str:
    """The participant's one end state: a death or transplant (the first of them) unless an exit
    dated before it ended follow-up already; else the coded disposition where there is one; else
    the stage the exit left (exits recorded before dispositions were coded)."""
    outcome = first_outcome(state)
    exit_kind = (state.disposition or {}).get("kind")
    if exit_kind not in EXITS:
        exit_kind = state.stage if state.stage in EXITS else None
    if outcome is not None:
        kind, on = outcome
        left = _date((state.disposition or {}).get("on"))
        if exit_kind is None or on is None or left is None or on <= left:
            return OUTCOME_END_STATES[kind]
    return str(exit_kind) if exit_kind else "in_follow_up"


def first_outcome(state: ParticipantState) -> tuple[str, date | None] | None:
    """The transplant or the death, whichever came first, with its day (None when the record's
    date is gone): the transplant where there is one (nothing may be dated after a death, so a
    death comes on or after it), unless the dates say the death came first."""
    transplanted = state.transplant is not None or state.stage == "transplanted"
    died = state.death is not None or state.stage == "died"
    transplant_on = _date((state.transplant or {}).get("transplanted_on"))
    died_on = _date((state.death or {}).get("died_on"))
    if transplanted and not (died and died_on and transplant_on and died_on < transplant_on):
        return "transplant", transplant_on
    return ("death", died_on) if died else None


def _date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _reason(record: Mapping[str, Any] | None) -> str:
    reason = (record or {}).get("reason")
    return str(reason) if reason else NOT_CODED


def _untreated_reason(state: ParticipantState) -> str:
    if state.treatment_discontinued is None:
        return NOT_RECORDED
    return _reason(state.treatment_discontinued)


def _sorted_counts(values: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def _step_rows(counts: Mapping[str, Any], arm: str, *, pooled: bool) -> list[tuple[str, str, str, int]]:
    rows: list[tuple[str, str, str, int]] = []
    if pooled:
        rows += [("registered", "", arm, counts["registered"]),
                 ("assessed", "", arm, counts["assessed"]),
                 ("not_assessed", "", arm, counts["not_assessed"]),
                 ("screen_failed", "", arm, counts["screen_failed"]["count"])]
        rows += [("screen_failed", c, arm, n) for c, n in counts["screen_failed"]["criteria"].items()]
        rows += [("eligible_not_randomised", "", arm, counts["eligible_not_randomised"]),
                 ("awaiting_eligibility", "", arm, counts["awaiting_eligibility"])]
    rows += [("randomised", "", arm, counts["randomised"]),
             ("treated", "", arm, counts["treated"]),
             ("not_treated", "", arm, counts["not_treated"]["count"])]
    rows += [("not_treated", r, arm, n) for r, n in counts["not_treated"]["reasons"].items()]
    ends = counts["end_states"]
    rows += [("completed", "", arm, ends["completed"]),
             ("withdrawn", "", arm, ends["withdrawn"]["count"])]
    rows += [("withdrawn", r, arm, n) for r, n in ends["withdrawn"]["reasons"].items()]
    rows += [("lost_to_follow_up", "", arm, ends["lost_to_follow_up"]),
             ("died", "", arm, ends["died"]),
             ("transplanted", "", arm, ends["transplanted"]),
             ("in_follow_up", "", arm, ends["in_follow_up"])]
    return rows
