"""A few demo participants, written through the SDK with a real user and key.

The demo's key files use a fixed passphrase unless TRIAL_LEDGER_ROOT_PASSPHRASE and
TRIAL_LEDGER_LEDGER_PASSPHRASE are set: fine for a demo, never for a trial.
"""

from __future__ import annotations

import os
import warnings
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from ledger.keys import generate, key_id, load_private_key, public_b64, save_private_key
from ledger.signer import Signer

from .bootstrap import Services, initialise, register_user, root_signer
from .client import LedgerClient
from .trial_setup import set_up_trial

DEMO_PASSPHRASE = "demo-only-not-for-trials"
DEMO_USER, DEMO_SITE = "inv-demo", "site-01"
PARTICIPANTS = [  # id, sex, date of birth, weight
    ("P-001", "F", "1961-04-02", 64.0),
    ("P-002", "M", "1958-11-23", 81.5),
    ("P-003", "M", "1970-06-14", 72.3),
    ("P-004", "F", "1966-01-30", 58.9),
    ("P-005", "M", "1975-09-08", 90.1),
    ("P-006", "F", "1944-02-11", 61.0),  # 82 at screening: a screen failure
]
ELIGIBLE = {"inc-1": True, "inc-2": True, "inc-3": True, **{f"exc-{i}": False for i in range(1, 12)}}


def run_demo(services: Services, home: Path) -> list[str]:
    """Initialise if needed, then add the demo participants once; returns lines to print."""
    from .app import create_app

    root_pass = os.environ.get("TRIAL_LEDGER_ROOT_PASSPHRASE", DEMO_PASSPHRASE)
    lines: list[str] = []
    system_pass = os.environ.get("TRIAL_LEDGER_LEDGER_PASSPHRASE", DEMO_PASSPHRASE)
    if not services.store.is_initialised():
        info = initialise(services, home=home, root_passphrase=root_pass, ledger_passphrase=system_pass)
        lines.append(f"Initialised demo ledger {info.origin}; root fingerprint {info.root_fingerprint}")
        set_up_trial(services, home=home, root_passphrase=root_pass, system_passphrase=system_pass)
        lines.append("Trial set up: protocol 1.0 adopted, allocation list committed.")
    if services.ledger.head("participant/" + PARTICIPANTS[0][0]).version:
        return [*lines, "Demo participants are present already."]
    key_file = home / "keys" / f"{DEMO_USER}.key"
    if key_file.exists():
        key = load_private_key(key_file, DEMO_PASSPHRASE)
    else:
        key = generate()
        save_private_key(key, key_file, DEMO_PASSPHRASE)
    root = root_signer(home, root_pass)
    if key_id(key.public_key()) not in services.ledger.registry().keys:
        _, token = register_user(services, root, author=DEMO_USER, name="Dr Demo Investigator",
                                 role="investigator", site=DEMO_SITE,
                                 public_key_b64=public_b64(key.public_key()))
    else:
        from .tokens import User
        token = services.tokens.issue(User(DEMO_USER, "investigator", DEMO_SITE))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's note about its httpx transport
        from fastapi.testclient import TestClient

        http = TestClient(create_app(services))
    client = LedgerClient(signer=Signer(key, DEMO_USER, "investigator", DEMO_SITE, "demo/0.1"),
                          token=token, http=http)
    today = services.clock().date()
    for n, (pid, sex, born, weight) in enumerate(PARTICIPANTS):
        client.register_participant(pid, sex=sex, date_of_birth=born, weight_kg=weight)
        client.sign_consent(pid, form_version="1.0", signed_on=today - timedelta(days=30 - 5 * n))
    client.withdraw_consent("P-004", form_version="1.0", withdrawn_on=today - timedelta(days=3),
                            reason="participant's own decision")
    client.sign_consent("P-004", form_version="1.1", signed_on=today)
    screened = today - timedelta(days=2)
    for pid, _, born, weight in PARTICIPANTS:
        over_age = born < "1946"
        client.assess_eligibility(pid, assessed_on=screened, esld_confirmed=True,
                                  answers={**ELIGIBLE, "inc-1": not over_age})
        if over_age or pid == "P-004":  # P-004 re-consented today: randomised later
            continue
        client.request_randomisation(pid)
        arm = client.participant(pid)["arm"]
        dose = {"low": 1e6, "medium_high": 3e6}[arm]
        start = datetime.combine(today, time(9), tzinfo=UTC) - timedelta(days=1)
        client.record_infusion(pid, infusion_number=1, started_at=start,
                               ended_at=start + timedelta(minutes=45), weight_kg=weight,
                               cells_per_kg=dose, total_cells=dose * weight, lot=f"UC-{pid}")
    lines.append(f"Demo: {len(PARTICIPANTS)} participants at {DEMO_SITE}: one screen failure, "
                 "four randomised and infused, one re-consented.")
    lines.append(f"Demo investigator {DEMO_USER} API token: {token}")
    return lines


__all__ = ["DEMO_PASSPHRASE", "run_demo"]
