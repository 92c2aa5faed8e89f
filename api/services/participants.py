"""Reading participants as the caller may: site staff only their own site's (another site's
participant answers as an unknown one), blinded roles with
the arm and allocation masked. One participant (now or as of a cut), their history, their
scores per visit, and the unblinding report."""

from __future__ import annotations

from typing import Any

from api.services import blinding
from api.services.as_of import participant_as_of, protocol_as_of
from api.services.bootstrap import Services
from api.services.sites import check_participant_known, sees_site, unknown_participant
from api.services.tokens import User
from domain.visit_scores import scores_by_visit
from ledger.errors import NotFound


def participant(services: Services, user: User, participant_id: str,
                as_of: str | None = None) -> dict[str, Any]:
    """The participant's state with their scores per visit."""
    check_participant_known(services, user, participant_id)
    state = (services.views.participant(participant_id) if as_of is None
             else participant_as_of(services, participant_id, as_of))
    if state is None:
        raise _missing(participant_id)
    body = state.model_dump(mode="json")
    body["scores"] = scores_by_visit(state, protocol_as_of(services, as_of))
    return blinding.mask_participant(services, user.role, body)


def history(services: Services, user: User, participant_id: str) -> list[dict[str, Any]]:
    """Every record of the participant, oldest first, masked as the caller's role requires."""
    check_participant_known(services, user, participant_id)
    records = services.ledger.stream(f"participant/{participant_id}")
    if not records:
        raise _missing(participant_id)
    rows = []
    for r in records:
        e = r.entry.fields
        row = {"version": r.version, "type": r.type, "record_hash": r.hash, "author": e["author"],
               "role": e["role"], "site": e["site"], "meaning": e["meaning"],
               "occurred_at": e["occurred_at"], "recorded_at": r.recorded_at, "reason": e["reason"],
               "payload": r.payload(), "redacted_by": r.redacted_by, "stream": r.stream}
        rows.append(blinding.mask_history_row(services, user.role, row))
    return rows


def scores(services: Services, user: User, participant_id: str,
           as_of: str | None = None) -> dict[str, Any]:
    """Every score per visit, with its algorithm version and input records."""
    check_participant_known(services, user, participant_id)
    if as_of is not None:
        state = participant_as_of(services, participant_id, as_of)
        found = None if state is None else \
            scores_by_visit(state, protocol_as_of(services, as_of))
    else:
        services.views.catch_up()
        found = services.views.scores(participant_id)
    if found is None:
        raise _missing(participant_id)
    return found


def unblindings(services: Services, user: User) -> list[dict[str, Any]]:
    """Every emergency unblinding at the sites the caller sees, oldest first (never the arm)."""
    services.views.catch_up()
    rows = [{"participant_id": pid, **u} for pid, state in services.views.participants().items()
            for u in state.unblindings if sees_site(user, state.site)]
    return sorted(rows, key=lambda r: str(r["at"]))


def _missing(participant_id: str) -> NotFound:
    return unknown_participant(participant_id)  # as another site's participant answers
