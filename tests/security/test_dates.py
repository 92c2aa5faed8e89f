"""Observation dates outside any plausible trial (year 0001, before 1900, past tomorrow) are refused
with `date.implausible` naming the field, for birth, consent, eligibility, infusions, visits and
samples alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.client.sdk import LedgerClientError

from ..conftest import Trial
from ..test_trial_domain import DOSE, ELIGIBLE, enrol, set_up

YEAR_ONE = datetime(1, 1, 1, 9, tzinfo=UTC)


def implausible(call: object, *args: object, **kw: object) -> str | None:
    with pytest.raises(LedgerClientError) as caught:
        call(*args, **kw)  # type: ignore[operator]
    assert caught.value.status == 422
    assert caught.value.rule == "date.implausible", caught.value.problem
    return caught.value.problem.get("field")


def test_year_one_and_pre_1900_birth_consent_and_withdrawal_are_refused(sqlite_trial: Trial) -> None:
    client = set_up(sqlite_trial)
    for born in ("0001-01-01", "1899-12-31"):
        assert implausible(client.register_participant, "P-001", sex="F", date_of_birth=born,
                           weight_kg=64.0) == "payload.date_of_birth"
    client.register_participant("P-001", sex="F", date_of_birth="1900-01-01", weight_kg=64.0)
    assert implausible(client.sign_consent, "P-001", form_version="1.0",
                       signed_on="0001-01-01") == "payload.signed_on"
    client.sign_consent("P-001", form_version="1.0", signed_on="2026-03-01")
    assert implausible(client.withdraw_consent, "P-001", form_version="1.0",
                       withdrawn_on="0001-01-01") == "payload.withdrawn_on"


def test_year_one_eligibility_visit_sample_and_infusion_are_refused(sqlite_trial: Trial) -> None:
    client = set_up(sqlite_trial)
    client.register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64.0)
    client.sign_consent("P-001", form_version="1.0", signed_on="2026-03-01")
    assert implausible(client.assess_eligibility, "P-001", assessed_on="0001-01-01",
                       esld_confirmed=True, answers=ELIGIBLE) == "payload.assessed_on"
    enrol(client, "P-002", randomise=True)
    stream = "participant/P-002"
    assert implausible(client.append, stream, "visit.completed",
                       {"visit": "baseline", "on": "0001-01-01"}) == "payload.on"
    assert implausible(client.record_lab, "P-002", visit="baseline", analyte="ALT", value=40.0,
                       unit="U/L", sampled_at=YEAR_ONE) == "payload.sampled_at"
    arm = client.participant("P-002")["arm"]
    dose = DOSE[arm]
    assert implausible(client.record_infusion, "P-002", infusion_number=1, started_at=YEAR_ONE,
                       ended_at=sqlite_trial.clock.now - timedelta(minutes=5), weight_kg=64.0,
                       cells_per_kg=dose, total_cells=dose * 64, lot="UC-1") == "payload.started_at"
