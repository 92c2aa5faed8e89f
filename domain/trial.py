"""The trial-wide streams: `protocol` (adoption and amendments) and `allocation` (the committed
list, the slots used, and at unblinding the list revealed).

No slot is assigned beyond the protocol in force's `target_enrolment`, counting the slots
assigned less those invalidated (`enrolment.target_reached`); an amendment that raises the
target lets randomisation go on.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from .facts import Consequence, Fact, Rejection
from .participant import Payload
from .protocol import Protocol, load_protocol
from .randomisation import AllocationList, commitment

PROTOCOL_STREAM, ALLOCATION_STREAM = "protocol", "allocation"
HEX64 = r"^[0-9a-f]{64}$"


class ProtocolDocument(Payload):
    """`protocol.adopted` / `protocol.amended`, schema 1: the whole protocol document."""

    document: dict[str, Any]


class AllocationCommitted(Payload):
    """`allocation.committed`, schema 1 (the randomiser): a salted commitment to the list (R23)."""

    protocol_version: str
    commitment: Annotated[str, Field(pattern=HEX64)]
    slots: dict[str, int]


class SlotAssigned(Payload):
    """`slot.assigned`, schema 1 (the randomiser): which participant took which slot (no arm)."""

    stratum: str
    slot: Annotated[int, Field(ge=1)]
    participant_id: str


class SlotInvalidated(Payload):
    """`slot.invalidated`, schema 1 (the randomiser, with a reason): retired, never reused."""

    stratum: str
    slot: Annotated[int, Field(ge=1)]
    participant_id: str


class AllocationRevealed(Payload):
    """`allocation.revealed`, schema 1 (the randomiser, at unblinding): list and salt (R26)."""

    allocation: dict[str, Any]
    salt: str


PROTOCOL_SCHEMAS: dict[tuple[str, int], type[BaseModel]] = {
    ("protocol.adopted", 1): ProtocolDocument, ("protocol.amended", 1): ProtocolDocument}
ALLOCATION_SCHEMAS: dict[tuple[str, int], type[BaseModel]] = {
    ("allocation.committed", 1): AllocationCommitted, ("slot.assigned", 1): SlotAssigned,
    ("slot.invalidated", 1): SlotInvalidated, ("allocation.revealed", 1): AllocationRevealed}


def protocol_in_force(history: Sequence[Fact]) -> Protocol | None:
    """The protocol of the latest adoption or amendment: every record is decided under it."""
    documents = [f.payload["document"] for f in history if not f.redacted
                 and f.type in ("protocol.adopted", "protocol.amended")]
    return load_protocol(documents[-1]) if documents else None


def decide_protocol(state: list[Fact], fact: Fact, now: datetime,
                    protocol: Protocol | None) -> list[Consequence]:
    new = load_protocol(fact.payload["document"])
    if fact.type == "protocol.adopted" and protocol is not None:
        raise Rejection("protocol.adopted_already", f"protocol {protocol.version} is in force; "
                        "amend it instead", field="entry.type")
    if fact.type == "protocol.amended":
        if protocol is None:
            raise Rejection("protocol.not_adopted", "adopt a protocol before amending it",
                            field="entry.type")
        if fact.reason is None:
            raise Rejection("protocol.reason_required", "an amendment needs a reason",
                            field="entry.reason")
        if new.version == protocol.version or new.trial != protocol.trial:
            raise Rejection("protocol.version", f"an amendment of {protocol.trial} needs a new version "
                            f"(in force: {protocol.version})", field="payload.document.version")
    return []


def randomised_count(state: Sequence[Fact]) -> int:
    """Participants randomised and standing: slots assigned less slots invalidated."""
    assigned = sum(1 for f in state if f.type == "slot.assigned")
    return assigned - sum(1 for f in state if f.type == "slot.invalidated")


def _within_target(state: Sequence[Fact], protocol: Protocol | None) -> None:
    if protocol is None:  # the randomiser asks for slots only under a protocol in force
        return
    randomised = randomised_count(state)
    if randomised >= protocol.target_enrolment:
        raise Rejection("enrolment.target_reached", f"{randomised} participants are randomised, "
                        f"the target of protocol {protocol.version} is {protocol.target_enrolment}",
                        field="entry.type")


def decide_allocation(state: list[Fact], fact: Fact, now: datetime,
                      protocol: Protocol | None) -> list[Consequence]:
    committed = [f for f in state if f.type == "allocation.committed"]
    p = fact.payload
    if fact.type == "allocation.committed":
        if committed:
            raise Rejection("allocation.committed_already", "the allocation list is committed once",
                            field="entry.type")
        return []
    if not committed:
        raise Rejection("allocation.not_committed", "no allocation list is committed",
                        field="entry.type")
    used = {(f.payload["stratum"], f.payload["slot"]) for f in state if f.type == "slot.assigned"}
    if fact.type == "slot.assigned":
        top = max((slot for stratum, slot in used if stratum == p["stratum"]), default=0)
        if p["slot"] != top + 1:
            raise Rejection("randomisation.slot_order", f"slot {p['slot']} does not follow {top}",
                            field="payload.slot")
        if p["slot"] > committed[0].payload["slots"].get(p["stratum"], 0):
            raise Rejection("randomisation.list_exhausted", "no slot is left in this stratum",
                            field="payload.slot")
        _within_target(state, protocol)
    elif fact.type == "slot.invalidated":
        if (p["stratum"], p["slot"]) not in used:
            raise Rejection("randomisation.slot_not_used", "only a used slot can be invalidated",
                            field="payload.slot")
        if fact.reason is None:
            raise Rejection("randomisation.reason_required", "an invalidation needs a reason",
                            field="entry.reason")
    elif fact.type == "allocation.revealed":
        try:
            salt = base64.b64decode(p["salt"], validate=True)
            allocation = AllocationList.model_validate(p["allocation"], strict=False)
            ok = commitment(salt, allocation) == committed[0].payload["commitment"]
        except (ValueError, binascii.Error) as exc:
            raise Rejection("allocation.reveal_invalid", f"list or salt does not parse: {exc}",
                            field="payload.allocation") from exc
        if not ok:
            raise Rejection("allocation.reveal_mismatch", "the revealed list and salt do not match "
                            "the committed hash", field="payload.allocation")
    return []
