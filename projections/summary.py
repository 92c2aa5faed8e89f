"""The trial summary: enrolment against the target, per arm (as the role may see it), stages,
visits done, open deviations and queries."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from domain.participant import ParticipantState


def trial_summary(states: Mapping[str, ParticipantState], *, target: int | None,
                  show_arms: bool) -> dict[str, Any]:
    randomised = [s for s in states.values() if s.arm is not None]
    summary: dict[str, Any] = {
        "registered": len(states), "target_enrolment": target, "randomised": len(randomised),
        "stages": dict(Counter(s.stage for s in states.values())),
        "visits_done": sum(len(s.visits) for s in states.values()),
        "deviations": sum(len(s.deviations) for s in states.values()),
        "open_queries": sum(1 for s in states.values() for q in s.queries.values()
                            if q["status"] != "closed"),
    }
    if show_arms:
        summary["per_arm"] = dict(Counter(str(s.arm) for s in randomised))
    return summary
