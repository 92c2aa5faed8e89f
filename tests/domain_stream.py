"""One participant's records decided through domain.streams.decide, as the ledger decides them:
each record after the ones before it, against one protocol, sealed at one time unless told
otherwise. The pure domain tests build their records and the common enrolment from here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest

from domain import streams
from domain.facts import Consequence, Fact, Rejection
from domain.participant import ParticipantState
from domain.protocol import Protocol, load_protocol

STREAM = "participant/P-001"
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
# every inclusion criterion met, no exclusion: eligible under protocol 1.0 and 1.1
ELIGIBLE = {"inc-1": True, "inc-2": True, "inc-3": True, **{f"exc-{i}": False for i in range(1, 12)}}
REG = {"participant_id": "P-001", "site": "site-01", "sex": "F", "date_of_birth": "1961-04-02",
       "weight_kg": 64.0}


def protocol_document(name: str) -> dict[str, Any]:
    text = resources.files("domain.protocols").joinpath(name).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def load(name: str) -> Protocol:
    return load_protocol(protocol_document(name))


P10, P11 = load("nct06167473.json"), load("nct06167473-1.1.json")


def record_hash(type_: str, schema: int, at: datetime, payload: Mapping[str, Any]) -> str:
    """Deterministic and distinct for records that differ in type, schema, time or content."""
    text = f"{type_}{schema}{at.isoformat()}{json.dumps(dict(payload))}"
    return hashlib.sha256(text.encode()).hexdigest()


def author_of(role: str) -> str:
    return "inv-001" if role == "investigator" else f"{role}-001"


@dataclass(frozen=True)
class ParticipantStream:
    """The records of participant P-001, decided against `protocol`; sealed at `now` by default."""

    protocol: Protocol
    now: datetime = NOW
    stream: str = STREAM

    def fact(self, type_: str, payload: Mapping[str, Any], *, schema: int = 1,
             role: str = "investigator", reason: str | None = None, at: datetime | None = None,
             stream: str | None = None, author: str | None = None,
             site: str = "site-01") -> Fact:
        sealed = self.now if at is None else at
        return Fact(type=type_, schema=schema, payload=payload, stream=stream or self.stream,
                    version=0, author=author or author_of(role), role=role, site=site,
                    occurred_at=sealed, recorded_at=sealed, reason=reason,
                    record_hash=record_hash(type_, schema, sealed, payload))

    def follow(self, *facts: Fact, protocol: Protocol | None = None) -> list[Consequence]:
        """Decide each fact after the ones before it; the records the last one requires."""
        out: list[Consequence] = []
        for i, f in enumerate(facts):
            out = streams.decide(facts[:i], f, json.dumps(dict(f.payload)),
                                 protocol or self.protocol)
        return out

    def state_of(self, *facts: Fact) -> ParticipantState:
        """The participant folded from the facts, without deciding them."""
        state: ParticipantState = streams.fold(streams.kind_of(self.stream), facts)
        return state

    def run(self, *facts: Fact, protocol: Protocol | None = None) -> ParticipantState:
        """Decide each fact after the ones before it, as the ledger does; the state after them."""
        self.follow(*facts, protocol=protocol)
        return self.state_of(*facts)

    def refusal(self, *facts: Fact, protocol: Protocol | None = None) -> Rejection:
        with pytest.raises(Rejection) as caught:
            self.follow(*facts, protocol=protocol)
        return caught.value

    def rule(self, *facts: Fact, protocol: Protocol | None = None) -> tuple[str, str | None]:
        caught = self.refusal(*facts, protocol=protocol)
        return caught.rule, caught.field

    # -- the common enrolment: registered, consented, eligible, randomised, infused -------------

    def registered(self, *, at: datetime | None = None) -> Fact:
        return self.fact("participant.registered", REG, at=at)

    def consent(self, on: str, form: str = "1.0", *, at: datetime | None = None) -> Fact:
        return self.fact("consent.signed", {"form_version": form, "signed_on": on}, at=at)

    def assessed(self, on: str, version: str | None = None) -> Fact:
        return self.fact("eligibility.assessed", {
            "protocol_version": version or self.protocol.version, "assessed_on": on,
            "esld_confirmed": True, "answers": ELIGIBLE})

    def determined(self, version: str | None = None) -> Fact:
        return self.fact("eligibility.determined", {
            "protocol_version": version or self.protocol.version, "eligible": True, "failed": [],
            "age_years": 64}, role="system")

    def enrolled(self, signed_on: str, assessed_on: str,
                 version: str | None = None) -> tuple[Fact, ...]:
        """Registered, consented on `signed_on`, found eligible on `assessed_on`."""
        return (self.registered(), self.consent(signed_on), self.assessed(assessed_on, version),
                self.determined(version))

    def request(self) -> Fact:
        return self.fact("randomisation.requested", {})

    def randomised(self) -> Fact:
        return self.fact("participant.randomised", {"stratum": "all", "slot": 1, "arm": "low"},
                         role="randomiser")

    def infusion(self, on: str, cells_per_kg: float = 1e6) -> Fact:
        """The first infusion, 10:00 to 10:45 UTC on `on`, to a participant of 64 kg."""
        return self.fact("infusion.administered", {
            "infusion_number": 1, "started_at": f"{on}T10:00:00+00:00",
            "ended_at": f"{on}T10:45:00+00:00", "weight_kg": 64.0, "cells_per_kg": cells_per_kg,
            "total_cells": 64.0 * cells_per_kg, "lot": "UC-1", "route": "peripheral vein"})


def refused(rejection: Rejection, rule: str, field: str) -> None:
    """The refusal names this rule and this field."""
    assert (rejection.rule, rejection.field) == (rule, field), rejection.message
