"""The blinding policy, pure (R24, R27): which roles are blinded, which fields and records reveal
the arm or a slot, and what the allocation stream shows to whom. No database, no API."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from domain import blinding
from domain.blinding import MASK, Sight, sight
from domain.protocol import load_protocol
from domain.trial import ALLOCATION_SCHEMAS, ALLOCATION_STREAM

DOCUMENT = json.loads(resources.files("domain.protocols").joinpath("nct06167473.json").read_text("utf-8"))
PROTOCOL = load_protocol(DOCUMENT)
PEOPLE = ("admin", "investigator", "data_manager", "monitor", "inspector", "unblinded_statistician",
          "lab_interface", "witness")
PARTICIPANT = "participant/P-001"


@pytest.mark.parametrize("role", PEOPLE)
def test_r27_blinded_roles_are_the_protocol_s(role: str) -> None:
    assert blinding.is_blinded(PROTOCOL, role) is (role in DOCUMENT["blinded_roles"])


@pytest.mark.parametrize("role", PEOPLE)
def test_r27_before_a_protocol_the_usual_roles_are_blinded_all_the_same(role: str) -> None:
    assert blinding.is_blinded(None, role) is (role in ("data_manager", "monitor"))
    assert blinding.masked_fields(None) == {"arm", "slot"}


def test_r27_the_arm_and_the_dose_are_masked_fields() -> None:
    assert {"arm", "cells_per_kg", "total_cells", "slot"} <= blinding.masked_fields(PROTOCOL)
    amended = load_protocol({**DOCUMENT, "masked_fields": ["arm"]})
    assert blinding.masked_fields(amended) == {"arm"}  # the protocol decides, not the code
    assert MASK == "masked"


def test_r27_a_blinded_role_misses_the_arm_the_dose_the_slot_and_a_deviation_s_text() -> None:
    monitor = sight(PROTOCOL, "monitor")
    assert monitor == Sight(sees_allocation=False, blinded=True, hidden=monitor.hidden)
    assert {"arm", "cells_per_kg", "total_cells", "slot", "stratum", "detail"} <= monitor.hidden


def test_r27_every_record_that_reveals_the_arm_is_withheld_from_a_blinded_role() -> None:
    monitor = sight(PROTOCOL, "data_manager")
    for kind in ("participant.randomised", "infusion.administered", "deviation.recorded",
                 "participant.unblinded"):
        assert monitor.withholds(PARTICIPANT, kind)
    for kind in ("participant.registered", "visit.completed", "lab.resulted", "query.opened"):
        assert not monitor.withholds(PARTICIPANT, kind)


def test_r27_every_allocation_record_type_reveals_the_arm() -> None:
    assert {kind for kind, _ in ALLOCATION_SCHEMAS} <= blinding.REVEALING


def test_r27_neither_the_reveal_nor_an_emergency_unblinding_lifts_blinding() -> None:
    monitor = sight(PROTOCOL, "monitor")
    assert monitor.withholds(ALLOCATION_STREAM, "allocation.revealed")
    assert monitor.withholds(PARTICIPANT, "participant.unblinded")


def test_r27_an_investigator_sees_the_arm_it_infuses_but_never_a_slot() -> None:
    investigator = sight(PROTOCOL, "investigator")
    assert not investigator.blinded and investigator.hidden == {"slot", "stratum"}
    assert not investigator.withholds(PARTICIPANT, "infusion.administered")
    assert investigator.withholds(PARTICIPANT, "participant.randomised")  # it names the slot


@pytest.mark.parametrize("role", ["admin", "inspector", "unblinded_statistician", "randomiser"])
def test_r24_allocation_roles_see_every_slot_and_the_allocation_stream(role: str) -> None:
    seen = sight(PROTOCOL, role)
    assert seen.sees_allocation and seen.hidden == frozenset() and seen.shows(ALLOCATION_STREAM)
    assert not any(seen.withholds(stream, kind) for stream in (ALLOCATION_STREAM, PARTICIPANT)
                   for kind in blinding.REVEALING)


@pytest.mark.parametrize("role", ["investigator", "data_manager", "monitor", "lab_interface"])
def test_r24_other_roles_never_see_the_allocation_stream(role: str) -> None:
    seen = sight(PROTOCOL, role)
    assert not seen.shows(ALLOCATION_STREAM) and not blinding.shows_stream(role, ALLOCATION_STREAM)
    assert seen.shows(PARTICIPANT) and blinding.shows_stream(role, PARTICIPANT)
    assert all(seen.withholds(ALLOCATION_STREAM, kind) for kind, _ in ALLOCATION_SCHEMAS)
