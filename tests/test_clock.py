"""The server's clock (R10, R11): time is kept from the latest record when the clock steps back,
on every stream, and the step is itself recorded, in the same transaction, by the system."""

from __future__ import annotations

from api.services.trial_setup import set_up_trial
from ledger.ledger import Ledger
from ledger.verify import verify_rows

from .conftest import LEDGER_PASS, ROOT_PASS, Trial


def test_r10_a_clock_stepping_back_is_recorded_and_recorded_at_never_decreases(trial: Trial) -> None:
    set_up_trial(trial.services, home=trial.home, root_passphrase=ROOT_PASS,
                 system_passphrase=LEDGER_PASS)
    client = trial.client("inv-001")
    client.register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64.0)
    latest = max(r.recorded_at for r in trial.services.ledger.records())
    assert not trial.services.ledger.stream("clock")  # a clock going forward records nothing
    trial.clock.step(hours=-3)  # the system clock steps back
    client.register_participant("P-002", sex="M", date_of_birth="1958-01-12", weight_kg=71.0)
    steps = trial.services.ledger.stream("clock")
    assert len(steps) == 1
    step = steps[0]
    payload = step.payload()
    assert step.type == "clock.stepped_back" and step.entry.fields["author"] == "system"
    assert payload["kept"] == latest and payload["clock_read"] < latest
    assert 3 * 3600 * 1000 - 1000 < payload["behind_ms"] <= 3 * 3600 * 1000
    other = trial.services.ledger.stream("participant/P-002")[0]  # a new stream: no history of its own
    assert other.recorded_at == latest == step.recorded_at  # time held, not taken from the clock
    log = [r.recorded_at for r in trial.services.ledger.records()]
    assert log == sorted(log)  # never decreases, across the whole log
    positions = {r.hash: r.position for r in trial.services.ledger.records()}
    assert positions[step.hash] == positions[other.hash] + 1  # the same transaction, right after
    trial.clock.step(hours=4)  # the clock catches up: nothing more to record
    client.sign_consent("P-002", form_version="1.0", signed_on="2026-03-01")
    assert len(trial.services.ledger.stream("clock")) == 1
    assert verify_rows(trial.services.store.iter_log()).findings == []


def test_r10_a_second_writer_never_records_a_time_earlier_than_the_logs_latest(
        sqlite_trial: Trial) -> None:
    """Two processes on one database (two servers, or a server and the CLI) with clocks apart:
    each reads the log's latest time under the write lock, not only once."""
    from api.services.bootstrap import bootstrap

    from .conftest import Clock

    trial = sqlite_trial
    signer, _ = trial.user("inv-001")
    behind = Clock(trial.clock.now)  # the second process's clock
    other = bootstrap(trial.services.store.url, clock=behind)

    def register(ledger: Ledger, pid: str) -> None:
        ledger.append(signer.sign(
            ledger=trial.info.origin, head=ledger.head(f"participant/{pid}"),
            type="participant.registered", occurred_at=trial.clock.now,
            payload={"participant_id": pid, "site": "site-01", "sex": "F",
                     "date_of_birth": "1961-04-02", "weight_kg": 64.0}))

    try:
        register(trial.services.ledger, "P-001")
        register(other.ledger, "P-002")  # the second process has seen the log now
        trial.clock.step(hours=2)
        register(trial.services.ledger, "P-003")  # the first moves two hours on
        behind.step(minutes=30)  # later than what the second saw, earlier than the log's latest
        register(other.ledger, "P-004")
        times = [r.recorded_at for r in trial.services.ledger.records()]
        assert times == sorted(times)
        assert [f.check for f in verify_rows(trial.services.store.iter_log()).findings] == []
    finally:
        other.close()
