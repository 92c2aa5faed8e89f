"""The rebuild's shortcuts give exactly what the plain code gives, on a real trial's log: records
decoded from our own store, facts, the in-place participant fold and the audit rows' text."""

from __future__ import annotations

import dataclasses

from domain import participant
from domain.facts import Fact
from domain.streams import evolve_participant
from ledger.canonical import canonical
from ledger.entry import Record
from projections import audit_trail
from projections.facts import to_fact
from projections.fold import Folding

from .conftest import Trial
from .test_labs import WEEK_4, treated


def test_shortcuts_equal_the_plain_code_on_every_record(trial: Trial) -> None:
    client, monitor = treated(trial)
    first = client.record_lab("P-001", visit="week_4", analyte="ALT", value=560.0, unit="U/L",
                              sampled_at=WEEK_4)
    monitor.open_query("P-001", record=first["record_hash"], field="value", text="check")
    client.correct_lab("P-001", supersedes=first["record_hash"], value=56.0, unit="U/L",
                       reason="transcription error")
    client.register_participant("P-002", sex="M", date_of_birth="1958-11-23", weight_kg=81.5)
    store = trial.services.store
    immutable: dict[str, participant.ParticipantState] = {}
    in_place: dict[str, participant.ParticipantState] = {}
    for index, row in enumerate(store.iter_log()):
        trusted = Record.from_stored(row.state, row.position, check=False)
        checked = Record.from_stored(row.state, row.position)
        assert trusted == dataclasses.replace(checked, checked=False)
        assert trusted.entry.fields == checked.entry.fields and trusted.hash == checked.hash
        payload = trusted.payload()
        audit = audit_trail.row(trusted, payload, index, {"visit": "week_4", "value": 1.5})
        assert audit_trail.text(audit) == canonical(audit)
        if not row.stream.startswith(participant.STREAM_PREFIX):
            continue
        fact = to_fact(trusted, payload)
        assert fact == Fact(**{f.name: getattr(fact, f.name) for f in dataclasses.fields(Fact)})
        assert vars(fact).keys() == {f.name for f in dataclasses.fields(Fact)}
        immutable[row.stream] = evolve_participant(
            immutable.get(row.stream, participant.initial()), fact)
        in_place[row.stream] = evolve_participant(in_place.get(row.stream, Folding()), fact)
    assert immutable and {s: v.model_dump(mode="json") for s, v in immutable.items()} == \
        {s: v.model_dump(mode="json") for s, v in in_place.items()}
