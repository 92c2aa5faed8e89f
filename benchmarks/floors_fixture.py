"""The real records the floors benchmark (floors.py) times its steps on, made by the project's own
code in a temporary folder, with the suite's fixtures (suite_fixtures.py):

- `trial`: a ledger with the trial set up (protocol adopted, allocation committed, system actors
  loaded) and the trial's rules, plus registrations signed for it as P2 signs them, not appended;
- `log`: a log made by the suite's recipe for its P4/P5 logs (`generated_log`: 20 records per
  participant, registration, consent and lab results, rules that keep a count per stream);
- its stored rows, its bundle file, the log's signing keys.
"""

from __future__ import annotations

import binascii
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from suite_fixtures import LEDGER_PASS, PER_STREAM, ROOT_PASS, Bench, generated_log, new_ledger, registration

from ledger.entry import Record, Submission
from ledger.prepared import Prepared, prepare
from ledger.store import Row


@dataclass
class Fixture:
    folder: Path
    trial: Bench
    log: Bench
    rows: list[Row]  # every stored row of the log, in position order
    bundle: Path
    subs: list[Submission]  # registrations for `trial`, signed, not appended
    prepared: list[Prepared]
    sealed: list[Record]  # `prepared`, sealed as the ledger seals them
    lab: Submission  # a lab result for the trial's registered participant
    consent: Submission
    batch_number: list[int] = field(default_factory=lambda: [0])

    def registrations(self, count: int) -> list[Submission]:
        """`count` fresh registrations for `trial` (new participant ids each call)."""
        self.batch_number[0] += 1
        b = self.batch_number[0]
        return [registration(self.trial.signer, self.trial.services.ledger.origin, f"R-{b:03d}{i:05d}")
                for i in range(count)]

    def close(self) -> None:
        self.trial.services.close()
        self.log.services.close()


def build(folder: Path, count: int) -> Fixture:
    """A fixture with `count` registrations and a log of about `count` records."""
    from api.services.trial_setup import set_up_trial

    trial = new_ledger(f"sqlite:///{folder / 'trial.db'}", folder / "trial-home")
    set_up_trial(trial.services, home=trial.home, root_passphrase=ROOT_PASS, system_passphrase=LEDGER_PASS)
    ledger = trial.services.ledger
    # One participant registered and consented through the trial's rules: the state a lab result
    # is decided on.
    ledger.append(registration(trial.signer, ledger.origin, "P-0000001"))
    consent = _sign(trial, "P-0000001", "consent.signed", {"form_version": "1.0", "signed_on": "2026-03-01"})
    ledger.append(consent)
    lab = _sign(trial, "P-0000001", "lab.resulted",
                {"visit": "baseline", "analyte": "ALT", "unit": "U/L", "value": 41.0,
                 "sampled_at": "2026-04-02T00:00:00+00:00"})
    log, _ = generated_log(folder / "logs", max(PER_STREAM, count))
    store = log.services.store
    rows = list(store.iter_log())
    bundle = folder / "log.bundle"
    _export(log, rows, bundle)
    fixture = Fixture(folder, trial, log, rows, bundle, [], [], [], lab, consent)
    fixture.subs = fixture.registrations(count)
    fixture.prepared = [prepare(s) for s in fixture.subs]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fixture.sealed = [Record.seal(p.entry, p.signature, now, p.payload_text, p.salt, payload_checked=True)
                      for p in fixture.prepared]
    return fixture


def _sign(bench: Bench, pid: str, kind: str, payload: dict[str, Any]) -> Submission:
    ledger = bench.services.ledger
    signed: Submission = bench.signer.sign(ledger=ledger.origin, head=ledger.head(f"participant/{pid}"),
                                           type=kind, payload=payload, occurred_at=datetime.now(UTC))
    return signed


def _export(bench: Bench, rows: list[Row], path: Path) -> None:
    """The log as `trial-ledger export` writes a bundle (ledger/bundle.py), its checkpoints too."""
    from ledger.bundle import write_bundle

    notes = [c.note for c in bench.services.ledger.tree.checkpoints()]
    out = io.StringIO()
    write_bundle(out, origin=bench.services.ledger.origin, exported_at="2026-12-07T00:00:00Z",
                 rows=iter(rows), records=len(rows), checkpoints=notes)
    path.write_text(out.getvalue(), encoding="utf-8")


def signature_of(sub: Submission) -> bytes:
    return binascii.a2b_base64(sub.signature)
