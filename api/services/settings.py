"""Every setting the ledger reads (R6): none of them disables or changes auditing.

Each is listed here with what it does; a `TRIAL_LEDGER_*` variable that is not listed is refused
when the server starts, and the attempt is recorded (`setting.refused`, stream `settings`), so
an administrator trying to switch auditing off leaves a signed trace and a server that will not
start until the variable is gone.
"""

from __future__ import annotations

from collections.abc import Mapping

from api.services.bootstrap import Services
from domain import settings
from ledger.ledger import FollowUp

PREFIX = "TRIAL_LEDGER_"
#: name -> what it does. Adding a setting means adding it here (a test checks the code).
KNOWN: dict[str, str] = {
    "TRIAL_LEDGER_DB": "database URL",
    "TRIAL_LEDGER_HOME": "folder of the ledger's key files",
    "TRIAL_LEDGER_ROOT_PASSPHRASE": "passphrase of the root key (scripts)",
    "TRIAL_LEDGER_LEDGER_PASSPHRASE": "passphrase of the ledger and system keys (scripts)",
    "TRIAL_LEDGER_KEY_PASSPHRASE": "passphrase of a person's own key (scripts)",
    "TRIAL_LEDGER_MAX_BODY": "largest request body in bytes (larger ones are refused, nothing written)",
    "TRIAL_LEDGER_SESSION_HOURS": "lifetime of a login session's token",
    "TRIAL_LEDGER_TOKEN_DAYS": "lifetime of a standing API token",
    "TRIAL_LEDGER_TOKEN": "the SDK's API token (client side)",
    "TRIAL_LEDGER_TEST_PG": "PostgreSQL URL for the test suite",
}
RULE = "no setting disables or changes auditing; unknown settings are refused"

#: `serve --checkpoint-interval-ms`: how long a record may wait for its checkpoint while the
#: server runs (0, the default: none waits, a checkpoint per commit). Bounded, so that no value
#: holds checkpoints back for long; every record is signed and chained whatever the interval.
CHECKPOINT_INTERVAL_OPTION = "--checkpoint-interval-ms"
MAX_CHECKPOINT_INTERVAL_MS = 60_000


def checkpoint_interval_ms(value: str | None) -> int:
    """The option's value in milliseconds; ValueError (one line naming the option) if it is not
    a whole number from 0 to MAX_CHECKPOINT_INTERVAL_MS."""
    if value is None:
        return 0
    text = value.strip()
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{CHECKPOINT_INTERVAL_OPTION} {value!r}: not a whole number of "
                         f"milliseconds from 0 (a checkpoint at every commit) to "
                         f"{MAX_CHECKPOINT_INTERVAL_MS}")
    ms = int(text)
    if ms > MAX_CHECKPOINT_INTERVAL_MS:
        raise ValueError(f"{CHECKPOINT_INTERVAL_OPTION} {ms}: at most {MAX_CHECKPOINT_INTERVAL_MS} "
                         "(a minute): a checkpoint is never held back longer")
    return ms


def unknown(environ: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in sorted(environ.items()) if k.startswith(PREFIX) and k not in KNOWN}


def refuse_unknown(services: Services, environ: Mapping[str, str], *, by: str) -> list[str]:
    """Record each unknown setting as refused (needs the system key); returns their names."""
    found = unknown(environ)
    for name, value in found.items():
        services.ledger.append_follow_up(FollowUp(
            settings.STREAM, "setting.refused",
            {"name": name[:200], "value": value[:200], "by": by[:100], "rule": RULE}, "system"))
    return list(found)
