"""The trial's safety as the caller may see it (R42–R45): every serious adverse event's clocks
(the site's 24-hour report and, for a suspected SUSAR, the sponsor's 7- or 15-day expedited
report), the adverse events themselves, their counts and the transplant-free survival.

The rules are domain/safety.py's and projections/survival.py's; here the participants are scoped
to the caller's sites, the clocks read against the server's time, and the counts and the survival
are per arm only for roles that may see arms. The adverse events name no arm, so blinded roles see
them as they stand. `verify-bundle` computes the same clock rows offline (`clock_rows`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from api.services import blinding
from api.services.bootstrap import Services
from api.services.tokens import User
from api.services.views import visible_states
from domain.participant import ParticipantState
from domain.protocol import Protocol
from domain.safety import sae_clocks
from projections.survival import ae_summary, survival

#: The fields of an adverse event the listing shows (each as the event currently stands).
LISTED = ("term", "coded", "onset_on", "end_on", "grade", "serious", "criteria",
          "relationship_cells", "relationship_procedure", "expected", "action_taken", "outcome",
          "special_interest", "aware_at", "status")


def safety(services: Services, user: User) -> dict[str, Any]:
    """`GET /v1/safety`: the clocks at the server's time, the adverse events, their counts and
    the survival over the participants `user` may see; pooled for blinded roles."""
    states = visible_states(services, user)
    protocol = blinding.protocol(services)
    show_arms = not blinding.is_blinded(services, user.role)
    fields = blinding.participant_mask(services, user.role)
    rows = {"clocks": clock_rows(states, protocol, services.clock()),
            "adverse_events": adverse_events(states)}
    return {**(blinding.mask(rows, fields) if fields else rows),
            "summary": ae_summary(states, show_arms=show_arms, protocol=protocol),
            "survival": survival(states, show_arms=show_arms, protocol=protocol)}


def clock_rows(states: Mapping[str, ParticipantState], protocol: Protocol | None,
               now: datetime | None) -> list[dict[str, Any]]:
    """Every serious adverse event's clocks (domain/safety.py's `sae_clocks`), by participant
    and the time of the site's SAE report, each row naming its participant; times as text, so
    that the API's answer and a bundle's offline table compare as they are."""
    rows = [{"participant_id": pid, **plain(row)} for pid, state in states.items()
            for row in sae_clocks(state, protocol, now)]
    return sorted(rows, key=lambda r: (r["participant_id"], str(r["reported_at"]), r["event"]))


def adverse_events(states: Mapping[str, ParticipantState]) -> list[dict[str, Any]]:
    """Every adverse event of the trial as it stands, by onset, then participant."""
    rows = [{"participant_id": pid, "event": key,
             **{name: plain(event.get(name)) for name in LISTED}}
            for pid, state in states.items() for key, event in state.adverse_events.items()]
    return sorted(rows, key=lambda r: (str(r["onset_on"]), r["participant_id"], r["event"]))


def plain(value: Any) -> Any:
    """`value` with every date and time as its ISO text (JSON-ready, machine-independent)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
