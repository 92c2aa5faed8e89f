"""Every view by following the log with tracking; a rebuild from zero is identical."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from projections.replay import replay
from projections.views import Views

from .conftest import Trial


def test_rebuild_from_zero_gives_identical_state(trial: Trial) -> None:
    client = trial.client("inv-001")
    for n in range(1, 6):
        pid = f"P-00{n}"
        client.register_participant(pid, sex="F" if n % 2 else "M", date_of_birth="1960-01-0" + str(n),
                                    weight_kg=60 + n)
        client.sign_consent(pid, form_version="1.0", signed_on="2026-03-01")
    client.withdraw_consent("P-003", form_version="1.0", withdrawn_on="2026-03-02")

    view = trial.services.views
    view.catch_up()
    live = fingerprints(view)
    assert live == replay(trial.services.ledger.records()).fingerprints()
    assert view.participants()["P-003"].status == "withdrawn"

    assert view.rebuild(trial.services.ledger.records()) == 5
    assert fingerprints(view) == live
    assert view.position() == trial.services.store.max_position()


def test_two_runners_never_apply_a_record_twice(trial: Trial) -> None:
    signer, _ = trial.user("inv-001")
    for n in range(1, 21):  # appended straight to the ledger: no runner has seen them
        trial.register_directly(signer, f"P-{n:03d}", consent=True)
    runners = [Views(trial.services.store) for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        applied = sum(pool.map(lambda r: r.catch_up(), runners))
    assert applied == trial.services.store.max_position()   # each record applied exactly once
    states = runners[0].participants()
    assert len(states) == 20
    assert all(len(s.consent_history) == 1 for s in states.values())
    assert fingerprints(runners[1]) == replay(trial.services.ledger.records()).fingerprints()


def fingerprints(views: Views) -> dict[str, str]:
    return {name: fp for name, (fp, _) in views.fingerprints().items()}
