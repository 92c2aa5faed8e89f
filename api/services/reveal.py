"""The reveal of the allocation list at database lock: `allocation.revealed` on the allocation
stream, signed by the randomiser's own key, carrying the list and its salt, so anyone can check
every assignment against the commitment made at set-up."""

from __future__ import annotations

import base64
from datetime import datetime

from api.services.bootstrap import CLIENT, Services
from api.services.randomiser import RANDOMISER
from domain.trial import ALLOCATION_STREAM
from ledger.ledger import Receipt
from ledger.signer import Signer


def reveal_allocation(services: Services, *, reason: str,
                      occurred_at: datetime | None = None) -> Receipt | None:
    """Publish the allocation list; None when the trial is not set up (no randomiser loaded)."""
    ledger = services.ledger
    randomiser, signer = services.rules.randomiser, ledger.system_signers.get(RANDOMISER)
    if randomiser is None or signer is None:
        return None
    return ledger.append(Signer(signer.key, RANDOMISER, "randomiser", "sponsor", CLIENT).sign(
        ledger=ledger.origin, head=ledger.head(ALLOCATION_STREAM), type="allocation.revealed",
        occurred_at=occurred_at or services.clock(), reason=reason,
        payload={"allocation": randomiser.allocation.model_dump(mode="json"),
                 "salt": base64.b64encode(randomiser.salt).decode()}))
