"""The rebuild's shortcuts give exactly what the plain code gives, on a real trial's log: records
decoded from our own store, facts, the in-place participant fold and the audit rows' text."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import participant
from domain.facts import Fact
from domain.streams import evolve_participant
from ledger.canonical import canonical
from ledger.entry import Record, format_time
from ledger.errors import MalformedEntry
from ledger.trusted import read_trusted
from projections import audit_trail
from projections.facts import _isoformat, to_fact
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
        # Decoded when first asked for: the signed entry's bytes, the signature and the salt.
        assert "raw" not in vars(trusted.entry) and "signature" not in vars(trusted)
        assert (trusted.entry.raw, trusted.signature, trusted.salt) == \
            (checked.entry.raw, checked.signature, checked.salt)
        assert trusted == dataclasses.replace(checked, checked=False)
        assert trusted.entry.fields == checked.entry.fields and trusted.hash == checked.hash
        payload = trusted.payload()
        replaced = {"visit": "week_4", "value": 1.5}
        change = audit_trail.change(trusted, payload, replaced)
        assert audit_trail.line(trusted, payload, replaced) == canonical(change).decode()
        assert audit_trail.shown(trusted, index, canonical(change).decode()) == \
            audit_trail.full(checked, index, audit_trail.change(checked, checked.payload(), replaced))
        if not row.stream.startswith(participant.STREAM_PREFIX):
            continue
        fact = to_fact(trusted, payload)
        assert fact == Fact(**{f.name: getattr(fact, f.name) for f in dataclasses.fields(Fact)})
        # Every field, and the recorded time's text filled in from the ledger's own form.
        assert vars(fact).keys() == {f.name for f in dataclasses.fields(Fact)} | {"recorded_text"}
        assert fact.recorded_text == fact.recorded_at.isoformat()
        immutable[row.stream] = evolve_participant(
            immutable.get(row.stream, participant.initial()), fact)
        in_place[row.stream] = evolve_participant(in_place.get(row.stream, Folding()), fact)
    assert immutable and {s: v.model_dump(mode="json") for s, v in immutable.items()} == \
        {s: v.model_dump(mode="json") for s, v in in_place.items()}


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31),
                    timezones=st.just(UTC)))
def test_recorded_text_from_the_ledger_form_equals_isoformat(moment: datetime) -> None:
    text = format_time(moment)
    shortcut = _isoformat(text)
    assert shortcut is None or shortcut == datetime.fromisoformat(text).isoformat()
    assert (shortcut is None) == (moment.microsecond == 0)


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31),
                    timezones=st.just(UTC)), st.integers(0, 26), st.sampled_from("0-:.TZ +W,x9"))
def test_recorded_text_of_any_time_fromisoformat_reads_equals_isoformat(
        moment: datetime, at: int, char: str) -> None:
    """The shortcut tests separators only: on any text that fromisoformat reads (the ledger's
    form with one character changed), it gives isoformat's text or leaves it to isoformat."""
    text = format_time(moment)
    text = text[:at] + char + text[at + 1:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return
    shortcut = _isoformat(text)
    assert shortcut is None or shortcut == parsed.isoformat()


@pytest.mark.parametrize("text", ["2026-03-03T10:00:00Z", "2026-03-03T10:00:00.5Z",
                                  "2026-03-03 10:00:00.123456Z", "2026-03-03T10:00:00,123456Z"])
def test_recorded_text_leaves_other_forms_to_isoformat(text: str) -> None:
    assert _isoformat(text) is None


@pytest.mark.parametrize("change", [
    {"version": 1.0}, {"version": 2**60}, {"author": 7}, {"reason": 1.5},
    {"client": None}, {"stream": ["participant/P-001"]}])
def test_audit_line_of_an_odd_entry_equals_the_plain_change(trial: Trial,
                                                            change: dict[str, object]) -> None:
    """An entry edited by hand into shapes the entry format refuses, with payloads of odd
    shapes, still gets RFC 8785 text of its change."""
    client, _ = treated(trial)
    client.record_lab("P-001", visit="week_4", analyte="ALT", value=56.5, unit="U/L",
                      sampled_at=WEEK_4)
    rows = list(trial.services.store.iter_log())
    record = Record.from_stored(rows[-1].state, rows[-1].position, check=False)
    record.entry.fields.update(change)
    payload = record.payload()
    odd_values = ({"value": 1e-7}, {"value": 3.0}, {"value": {"b": 1, "a": 2.0}},
                  {"value": [2.0, {"z": 1, "y": None}]}, {"unit": {"z": 1, "a": 1}}, {"value": True})
    for odd_payload in (payload, *({**(payload or {}), **odd} for odd in odd_values)):
        try:
            expected = canonical(audit_trail.change(record, odd_payload, None)).decode()
        except MalformedEntry:  # no canonical form (an integer past 2**53): refused both ways
            with pytest.raises(MalformedEntry):
                audit_trail.line(record, odd_payload, None)
            continue
        assert audit_trail.line(record, odd_payload, None) == expected


def _lab_record(trial: Trial) -> Record:
    client, _ = treated(trial)
    client.record_lab("P-001", visit="week_4", analyte="ALT", value=56.5, unit="U/L",
                      sampled_at=WEEK_4)
    last = list(trial.services.store.iter_log())[-1]
    return Record.from_stored(last.state, last.position, check=False)


def _same_line(record: Record, payload: dict[str, object]) -> None:
    try:
        expected = canonical(audit_trail.change(record, payload, None)).decode()
    except MalformedEntry:  # no canonical form (not finite): refused both ways
        with pytest.raises(MalformedEntry):
            audit_trail.line(record, payload, None)
        return
    assert audit_trail.line(record, payload, None) == expected


def test_audit_line_of_a_double_lab_value_equals_the_plain_row(trial: Trial) -> None:
    """A lab value's double is written without the safety walk only where orjson writes it as
    RFC 8785 does; at and past the edges of that range the plain way decides."""
    record = _lab_record(trial)
    payload = record.payload() or {}
    edges = (1e-4, -1e-4, 9.99e-5, 1e-5, 9.99e-6, 1e-6, -1.5e-6, 1e-7, 0.0, -0.0, 0.1, -3.0,
             123.456, 1e16, 1.5e300, float(2**53 - 1), float(2**53), -float(2**53 - 1),
             2**53 - 1.5, float("nan"), float("inf"), float("-inf"), 2**53 - 1, 2**53, -(2**53))
    for value in edges:
        _same_line(record, {**payload, "value": value})

    @settings(max_examples=500, deadline=None)
    @given(st.floats() | st.integers() | st.floats(min_value=1e-8, max_value=1e-3)
           | st.floats(min_value=1e15, max_value=1e22))
    def any_number(value: float) -> None:
        _same_line(record, {**payload, "value": value})

    any_number()


@given(st.integers(min_value=0, max_value=10**13))
def test_an_audit_key_is_the_zero_padded_leaf_index(leaf_index: int) -> None:
    assert audit_trail.key(leaf_index) == f"{leaf_index:012d}"


def test_a_payload_read_for_views_is_parsed_and_broken_text_named(trial: Trial) -> None:
    """Records read for views parse their payload without judging its form (`check=False`),
    and still name a payload that is not JSON; a payload that is not an object reads as none."""
    client, _ = treated(trial)
    client.record_lab("P-001", visit="week_4", analyte="ALT", value=56.0, unit="U/L",
                      sampled_at=WEEK_4)
    row = list(trial.services.store.iter_log())[-1]
    trusted = Record.from_stored(row.state, row.position, check=False)
    checked = Record.from_stored(row.state, row.position)
    assert trusted.payload() == checked.payload() and trusted.payload()["analyte"] == "ALT"
    broken = dataclasses.replace(trusted, payload_text='{"analyte": ')
    with pytest.raises(MalformedEntry) as caught:
        broken.payload()
    assert caught.value.field == "payload"
    assert dataclasses.replace(trusted, payload_text="[1, 2]").payload() is None


def test_the_trusted_reader_is_the_only_lazy_one(trial: Trial) -> None:
    """A plain Record holds every field it shows; the trusted reader's records decode some on
    first use, and are the records `from_stored(check=False)` gives."""
    assert "__getattr__" not in vars(Record)
    row = list(trial.services.store.iter_log())[-1]
    trusted = read_trusted(row.state, row.position)
    assert isinstance(trusted, Record) and type(trusted) is not Record
    assert trusted == Record.from_stored(row.state, row.position, check=False)
    assert trusted == dataclasses.replace(Record.from_stored(row.state, row.position), checked=False)
