"""The participant decider, pure: no database, no clock, no ledger."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from domain import streams
from domain.facts import Fact, Rejection

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REG = {"participant_id": "P-001", "site": "site-01", "sex": "F", "date_of_birth": "1961-04-02",
       "weight_kg": 64.0}


def fact(type_: str, payload: Mapping[str, Any], version: int, *, role: str = "investigator",
         site: str = "site-01", stream: str = "participant/P-001", schema: int = 1) -> Fact:
    return Fact(type=type_, schema=schema, payload=payload, stream=stream, version=version,
                author="inv-001", role=role, site=site, occurred_at=NOW, recorded_at=NOW)


def run(*facts: Fact) -> None:
    """Decide each fact after the ones before it, as the ledger does."""
    import json

    for i, f in enumerate(facts):
        streams.decide(facts[:i], f, json.dumps(dict(f.payload)))


def refused(*facts: Fact) -> str:
    with pytest.raises(Rejection) as caught:
        run(*facts)
    return caught.value.rule


def consent(version: int, form: str = "1.0") -> Fact:
    return fact("consent.signed", {"form_version": form, "signed_on": "2026-03-01"}, version)


def withdrawal(version: int, form: str = "1.0") -> Fact:
    return fact("consent.withdrawn", {"form_version": form, "withdrawn_on": "2026-03-02"}, version)


REGISTER = fact("participant.registered", REG, 1)


def test_registration_consent_withdrawal_reconsent_is_accepted() -> None:
    facts = (REGISTER, consent(2), withdrawal(3), consent(4, "1.1"))
    run(*facts)
    state = streams.fold(streams.kind_of("participant/P-001"), facts)
    assert (state.status, state.consent_form) == ("consented", "1.1")
    assert [(e.action, e.form_version) for e in state.consent_history] == [
        ("signed", "1.0"), ("withdrawn", "1.0"), ("signed", "1.1")]


def test_r41_the_withdrawal_of_consent_records_the_follow_up_agreed_to() -> None:
    kind = streams.kind_of("participant/P-001")
    agreed = fact("consent.withdrawn", {"form_version": "1.0", "withdrawn_on": "2026-03-02",
                                        "follow_up": "safety"}, 3, schema=2)
    run(REGISTER, consent(2), agreed)
    assert streams.fold(kind, (REGISTER, consent(2), agreed)).follow_up == "safety"
    assert streams.fold(kind, (REGISTER, consent(2), withdrawal(3))).follow_up == "none"  # schema 1
    assert streams.fold(kind, (REGISTER, consent(2))).follow_up is None
    assert streams.fold(kind, (REGISTER, consent(2), agreed, consent(4, "1.1"))).follow_up is None
    without = fact("consent.withdrawn", {"form_version": "1.0", "withdrawn_on": "2026-03-02"}, 3,
                   schema=2)
    assert refused(REGISTER, consent(2), without) == "payload.invalid"  # schema 2 asks for it


def test_second_registration_of_the_same_id_is_refused() -> None:
    assert refused(REGISTER, fact("participant.registered", REG, 2)) == "participant.already_registered"


def test_no_consent_before_registration() -> None:
    assert refused(consent(1)) == "consent.before_registration"


def test_no_withdrawal_before_consent() -> None:
    assert refused(REGISTER, withdrawal(2)) == "consent.withdrawal_without_consent"


def test_reconsent_after_withdrawal_only_on_a_new_form_version() -> None:
    assert refused(REGISTER, consent(2), withdrawal(3), consent(4, "1.0")) == \
        "consent.reconsent_needs_new_form"


def test_the_same_form_is_not_signed_twice() -> None:
    assert refused(REGISTER, consent(2), consent(3)) == "consent.already_signed"


def test_registration_must_match_its_stream_and_site() -> None:
    other_stream = fact("participant.registered", REG, 1, stream="participant/P-002")
    assert refused(other_stream) == "participant.stream_mismatch"
    other_site = fact("participant.registered", REG, 1, site="site-02")
    assert refused(other_site) == "participant.site_mismatch"


def test_a_site_cannot_write_into_another_sites_participant() -> None:
    assert refused(REGISTER, fact("consent.signed", {"form_version": "1.0", "signed_on": "2026-03-01"},
                                  2, site="site-02")) == "participant.other_site"


def test_only_investigators_record_consent() -> None:
    assert refused(fact("participant.registered", REG, 1, role="monitor")) == "entry.role_not_allowed"


@pytest.mark.parametrize(("payload", "field"), [
    ({**REG, "sex": "X"}, "payload.sex"),
    ({**REG, "weight_kg": 5}, "payload.weight_kg"),
    ({**REG, "weight_kg": "64"}, "payload.weight_kg"),
    ({**REG, "date_of_birth": "02/04/1961"}, "payload.date_of_birth"),
    ({**REG, "participant_id": "jane doe"}, "payload.participant_id"),
    ({**REG, "name": "Jane Doe"}, "payload.name"),
])
def test_payload_schema_errors_name_the_field(payload: dict[str, Any], field: str) -> None:
    import json

    with pytest.raises(Rejection) as caught:
        streams.decide([], fact("participant.registered", payload, 1), json.dumps(payload))
    assert caught.value.rule == "payload.invalid"
    assert caught.value.field == field


def test_unknown_type_and_schema_version_are_refused() -> None:
    assert refused(fact("participant.renamed", {}, 1)) == "entry.unknown_type"
    assert refused(fact("participant.registered", REG, 1, schema=9)) == "entry.unknown_schema"
    assert refused(fact("participant.registered", REG, 1, stream="visits/P-001")) == "stream.unknown"


def test_dates_in_the_future_are_refused() -> None:
    late = fact("consent.signed", {"form_version": "1.0", "signed_on": "2026-03-03"}, 2)
    assert refused(REGISTER, late) == "date.in_future"
