"""Any sequence of entries on a participant's stream is accepted or refused with a named rule,
never an exception (the pure deciders, driven by hypothesis)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from api.services.trial_setup import default_protocol
from domain import streams
from domain.facts import Fact, Rejection
from domain.protocol import load_protocol

PROTOCOL = load_protocol(default_protocol())
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
ELIGIBLE = {"inc-1": True, "inc-2": True, "inc-3": True, **{f"exc-{i}": False for i in range(1, 12)}}
STARTED = (NOW - timedelta(hours=2)).isoformat()
ENDED = (NOW - timedelta(hours=1)).isoformat()

PAYLOADS: dict[str, list[dict[str, Any]]] = {
    "participant.registered": [{"participant_id": "P-001", "site": "site-01", "sex": "F",
                                "date_of_birth": "1961-04-02", "weight_kg": 64.0},
                               {"participant_id": "P-001", "site": "site-01", "sex": "M",
                                "date_of_birth": "1940-01-01", "weight_kg": 80.0}],
    "consent.signed": [{"form_version": "1.0", "signed_on": "2026-03-01"},
                       {"form_version": "1.1", "signed_on": "2026-03-02"}],
    "consent.withdrawn": [{"form_version": "1.0", "withdrawn_on": "2026-03-02"}],
    "consent.withdrawn/2": [{"form_version": "1.0", "withdrawn_on": "2026-03-02", "follow_up": f}
                            for f in ("none", "vital_status", "safety")],
    "eligibility.assessed": [{"protocol_version": "1.0", "assessed_on": "2026-03-02",
                              "esld_confirmed": True, "answers": ELIGIBLE},
                             {"protocol_version": "1.0", "assessed_on": "2026-03-02",
                              "esld_confirmed": True, "answers": {**ELIGIBLE, "exc-3": True}},
                             {"protocol_version": "9.9", "assessed_on": "2026-03-02",
                              "esld_confirmed": True, "answers": {"inc-1": True}}],
    "eligibility.determined": [{"protocol_version": "1.0", "eligible": True, "failed": [],
                                "age_years": 64}],
    "randomisation.requested": [{}, {"stratum": "nowhere"}],
    "participant.randomised": [{"stratum": "all", "slot": 1, "arm": "low"},
                               {"stratum": "all", "slot": 2, "arm": "nonsense"}],
    "infusion.administered": [{"infusion_number": n, "started_at": STARTED, "ended_at": ENDED,
                               "weight_kg": 64.0, "cells_per_kg": dose, "total_cells": dose * 64,
                               "lot": "L", "route": route}
                              for n, dose, route in ((1, 1e6, "peripheral vein"), (2, 3e6, "peripheral vein"),
                                                     (1, 9e6, "oral"))],
    "deviation.recorded": [{"kind": "dose_mismatch", "record": "a" * 64, "detail": "off"}],
    "participant.withdrawn": [{"on": "2026-03-02"}],
    "participant.withdrawn/2": [{"on": "2026-03-02", "reason": "withdrawal_by_subject"},
                                {"on": "2026-03-02", "reason": "other"},
                                {"on": "2026-03-02", "reason": "lost_to_follow_up"}],
    "participant.lost_to_follow_up/2": [{"on": "2026-03-01", "attempts": 2,
                                         "last_attempt_on": "2026-03-02"}],
    "participant.completed": [{"on": "2026-03-02"}],
    "treatment.discontinued": [{"on": "2026-03-02", "reason": "adverse_event"},
                               {"on": "2026-03-02", "reason": "other", "reason_text": "x"}],
    "vital_status.recorded": [{"status": "alive", "on": "2026-03-02"},
                              {"status": "dead", "on": "2026-03-02", "known_alive_on": "2026-03-01"}],
    "randomisation.invalidated": [{"slot_error": "wrong participant"}],
    "unblinding.requested": [{"informed": ["sponsor"], "emergency": True}],
    "participant.unblinded": [{"arm": "low", "request": "b" * 64}],
    "participant.renamed": [{"name": "x"}],
}
ROLES = ["investigator", "randomiser", "system", "monitor"]

entries = st.lists(st.tuples(st.sampled_from(sorted(PAYLOADS)), st.integers(0, 2),
                             st.sampled_from(ROLES), st.sampled_from(["site-01", "site-02"]),
                             st.sampled_from([None, "because"])), max_size=14)


HAPPY = [("participant.registered", 0, "investigator", "site-01", None),
         ("consent.signed", 0, "investigator", "site-01", None),
         ("eligibility.assessed", 0, "investigator", "site-01", None),
         ("randomisation.requested", 0, "investigator", "site-01", None),
         ("participant.randomised", 0, "randomiser", "sponsor", None),
         ("infusion.administered", 0, "investigator", "site-01", None),
         ("unblinding.requested", 0, "investigator", "site-01", "anaphylaxis"),
         ("participant.completed", 0, "investigator", "site-01", None)]


@settings(max_examples=300, deadline=None)
@example(HAPPY)
@given(entries)
def test_any_sequence_is_accepted_or_refused_with_a_named_rule(sequence: list[Any]) -> None:
    history: list[Fact] = []
    for version, (key, n, role, site, reason) in enumerate(sequence, start=1):
        options = PAYLOADS[key]
        payload = options[n % len(options)]
        type_, _, schema = key.partition("/")  # "type/2": that type's schema 2
        fact = Fact(type=type_, schema=int(schema or 1), payload=payload, stream="participant/P-001",
                    version=len(history) + 1, author="someone", role=role, site=site,
                    occurred_at=NOW, recorded_at=NOW + timedelta(seconds=version), reason=reason,
                    record_hash=f"{version:064x}")
        try:
            consequences = streams.decide(history, fact, json.dumps(payload), PROTOCOL)
        except Rejection as exc:
            assert exc.rule and "." in exc.rule and exc.message
            continue
        history.append(fact)
        for c in consequences:  # the records the rules asked for are themselves accepted
            follow = Fact(type=c.type, schema=1, payload=c.payload, stream=c.stream,
                          version=len(history) + 1, author=c.actor, role=c.actor, site="sponsor",
                          occurred_at=NOW, recorded_at=fact.recorded_at, reason=c.reason,
                          record_hash=f"{version:063x}f")
            streams.decide(history, follow, json.dumps(dict(c.payload)), PROTOCOL)
            history.append(follow)
    state = streams.fold(streams.kind_of("participant/P-001"), history)
    if sequence == HAPPY:  # the example walks the whole way: every step was accepted
        assert state.stage == "completed" and len(state.infusions) == 1 and state.unblindings
    assert state.stage in ("registered", "screen_failed", "eligible", "randomisation_requested",
                           "randomised", "treated", "withdrawn", "lost_to_follow_up", "completed")


def _walk(*steps: tuple[str, dict[str, Any], str, str | None]) -> list[Fact]:
    """Decide each step after the ones before it (with their consequences); return the history."""
    history: list[Fact] = []
    for n, (type_, payload, role, reason) in enumerate(steps, start=1):
        fact = Fact(type=type_, schema=1, payload=payload, stream="participant/P-001",
                    version=len(history) + 1, author="a", role=role,
                    site="site-01" if role == "investigator" else "sponsor", occurred_at=NOW,
                    recorded_at=NOW + timedelta(seconds=n), reason=reason, record_hash=f"{n:064x}")
        for c in streams.decide(history, fact, json.dumps(payload), PROTOCOL):
            history.append(fact)
            fact = Fact(type=c.type, schema=1, payload=c.payload, stream=c.stream,
                        version=len(history) + 1, author=c.actor, role=c.actor, site="sponsor",
                        occurred_at=NOW, recorded_at=fact.recorded_at, reason=c.reason)
        history.append(fact)
    return history


RANDOMISED: tuple[tuple[str, dict[str, Any], str, str | None], ...] = (
    ("participant.registered", PAYLOADS["participant.registered"][0], "investigator", None),
    ("consent.signed", PAYLOADS["consent.signed"][0], "investigator", None),
    ("eligibility.assessed", PAYLOADS["eligibility.assessed"][0], "investigator", None),
    ("randomisation.requested", {}, "investigator", None),
    ("participant.randomised", {"stratum": "all", "slot": 1, "arm": "low"}, "randomiser", None))


def test_r29_pure_a_dose_off_the_arm_brings_a_deviation_record() -> None:
    wrong = {**PAYLOADS["infusion.administered"][0], "cells_per_kg": 3e6, "total_cells": 3e6 * 64}
    history = _walk(*RANDOMISED, ("infusion.administered", wrong, "investigator", None))
    assert [f.type for f in history[-2:]] == ["infusion.administered", "deviation.recorded"]
    assert history[-1].payload["kind"] == "dose_mismatch" and history[-1].author == "system"
    right = _walk(*RANDOMISED, ("infusion.administered", PAYLOADS["infusion.administered"][0],
                                "investigator", None))
    assert right[-1].type == "infusion.administered"


def test_r28_pure_unblinding_needs_a_reason_and_reveals_only_this_participant() -> None:
    request = ("unblinding.requested", {"informed": ["sponsor"], "emergency": True}, "investigator")
    try:
        _walk(*RANDOMISED, (*request, None))
        raise AssertionError("an unblinding without a reason was accepted")
    except Rejection as exc:
        assert exc.rule == "unblinding.reason_required"
    history = _walk(*RANDOMISED, (*request, "anaphylaxis"))
    assert history[-1].type == "participant.unblinded" and history[-1].stream == "participant/P-001"
    assert history[-1].payload["arm"] == "low" and history[-1].author == "randomiser"
