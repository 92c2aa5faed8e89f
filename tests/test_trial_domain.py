"""Trial domain I through the HTTP API and the SDK: order of steps, randomisation, blinding,
infusion (R21, R23–R27, R29)."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from api.cli.main import app
from api.client.sdk import LedgerClient, LedgerClientError
from api.services.trial_setup import set_up_trial
from api.services.vault import VaultError
from domain.randomisation import commitment
from ledger.keys import generate

from .conftest import LEDGER_PASS, ROOT_PASS, Trial, make_trial
from .live_server import protocol_for

ELIGIBLE = {"inc-1": True, "inc-2": True, "inc-3": True, **{f"exc-{i}": False for i in range(1, 12)}}
DOSE = {"low": 1e6, "medium_high": 3e6}


def set_up(trial: Trial, slots: int | None = None, document: dict[str, Any] | None = None) -> LedgerClient:
    """The trial set up with `slots` on the list, under a protocol whose enrolment target
    covers them (or under `document`)."""
    set_up_trial(trial.services, home=trial.home, root_passphrase=ROOT_PASS,
                 system_passphrase=LEDGER_PASS, document=document or protocol_for(slots),
                 slots=slots, seed=b"s" * 32)
    return trial.client("inv-001")


def enrol(client: LedgerClient, pid: str, *, born: str = "1961-04-02", eligible: bool = True,
          randomise: bool = False) -> dict[str, Any]:
    client.register_participant(pid, sex="F", date_of_birth=born, weight_kg=64.0)
    client.sign_consent(pid, form_version="1.0", signed_on="2026-03-01")
    receipt = client.assess_eligibility(pid, assessed_on="2026-03-02", esld_confirmed=True,
                                        answers={**ELIGIBLE, "exc-1": not eligible})
    return client.request_randomisation(pid) if randomise else receipt


def refused(call: Any, *args: Any, **kw: Any) -> str:
    with pytest.raises(LedgerClientError) as caught:
        call(*args, **kw)
    assert caught.value.status == 422
    return caught.value.rule


def infuse(client: LedgerClient, trial: Trial, pid: str, cells_per_kg: float,
           weight: float = 64.0) -> dict[str, Any]:
    end = trial.clock.now - timedelta(minutes=5)
    return client.record_infusion(pid, infusion_number=1, started_at=end - timedelta(minutes=40),
                                  ended_at=end, weight_kg=weight, cells_per_kg=cells_per_kg,
                                  total_cells=cells_per_kg * weight, lot="UC-1")


def test_r21_steps_happen_in_the_protocols_order(trial: Trial) -> None:
    client = set_up(trial)
    client.register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64.0)
    assert refused(client.request_randomisation, "P-001") == "randomisation.no_consent"
    client.sign_consent("P-001", form_version="1.0", signed_on="2026-03-01")
    assert refused(client.request_randomisation, "P-001") == "randomisation.not_eligible"
    assert refused(infuse, client, trial, "P-001", 1e6) == "infusion.not_randomised"
    # An assessment that fails an exclusion is a screen failure: no randomisation.
    client.assess_eligibility("P-001", assessed_on="2026-03-02", esld_confirmed=True,
                              answers={**ELIGIBLE, "exc-5": True})
    seen = client.participant("P-001")
    assert seen["stage"] == "screen_failed" and seen["failed_criteria"] == ["exc-5"]
    assert refused(client.request_randomisation, "P-001") == "randomisation.not_eligible"
    # Age outside 18–80 on the day: refused even with answers that say otherwise.
    client.register_participant("P-002", sex="M", date_of_birth="1944-02-11", weight_kg=70.0)
    client.sign_consent("P-002", form_version="1.0", signed_on="2026-03-01")
    assert refused(client.assess_eligibility, "P-002", assessed_on="2026-03-02", esld_confirmed=True,
                   answers=ELIGIBLE) == "eligibility.age_mismatch"
    # Eligible, then randomised; after consent is withdrawn, no infusion.
    enrol(client, "P-003", randomise=True)
    assert client.participant("P-003")["stage"] == "randomised"
    client.withdraw_consent("P-003", form_version="1.0", withdrawn_on="2026-03-02")
    assert refused(infuse, client, trial, "P-003", 1e6) == "infusion.no_consent"
    assert refused(client.request_randomisation, "P-003") == "randomisation.no_consent"


def test_r21_age_is_checked_again_on_the_day_of_randomisation(trial: Trial) -> None:
    client = set_up(trial)
    enrol(client, "P-001", born="1945-03-03")  # 80 at assessment, 81 the next day
    trial.clock.step(days=2)
    assert refused(client.request_randomisation, "P-001") == "randomisation.age"


def test_r23_list_committed_salted_and_readable_only_by_the_randomiser(trial: Trial) -> None:
    set_up(trial)
    committed = trial.services.ledger.stream("allocation")[0]
    assert committed.type == "allocation.committed" and committed.entry.fields["author"] == "randomiser"
    value = (committed.payload() or {})["commitment"]
    randomiser = trial.services.rules.randomiser
    assert randomiser is not None
    assert commitment(randomiser.salt, randomiser.allocation) == value
    with pytest.raises(VaultError):  # another key cannot open the stored list
        trial.services.vault.get(generate(), value)
    _, token = trial.user("inv-002")
    for path in ("/v1/streams/allocation",):
        denied = trial.http.get(path, headers={"Authorization": f"Bearer {token}"})
        assert denied.status_code == 403 and denied.json()["rule"] == "blinding.restricted_stream"
    with trial.services.store.read() as cur:  # stored encrypted: no arm in clear anywhere
        cur.execute(f"SELECT ciphertext FROM {trial.services.store.qualify('allocation_lists')}")
        blob = bytes(cur.fetchone()["ciphertext"])
    # A Fernet token: base64 text (where "low" may occur by chance), never the list's JSON with
    # its quoted arm names, neither as text nor once decoded.
    raw = base64.urlsafe_b64decode(blob)
    assert blob.startswith(b"gAAAAA") and raw[0] == 0x80
    assert all(arm not in text for arm in (b'"medium_high"', b'"low"') for text in (blob, raw))


def test_r24_no_investigator_response_predicts_the_next_assignment(trial: Trial) -> None:
    client = set_up(trial)
    receipts = [enrol(client, f"P-00{n}", randomise=True) for n in range(1, 5)]
    for receipt in receipts:
        assert [f["stream"] for f in receipt["follow_ups"]] == [receipt["stream"]]  # no allocation
    for n in range(1, 5):
        seen = client.participant(f"P-00{n}")
        assert seen["slot"] == "masked" and seen["stratum"] == "masked"
    text = json.dumps(receipts)
    hashes = [r["record_hash"] for r in receipts] + [f["record_hash"] for r in receipts
                                                    for f in r["follow_ups"]]
    bodies = every_get_response(trial, str(client.http.headers["Authorization"]).removeprefix("Bearer "),
                                [f"P-00{n}" for n in range(1, 5)], hashes)
    for body in [text, *bodies]:  # no slot number, no block, no list, in any response
        assert not re.search(r'"slot":\s*\d', body), body[:300]
        assert "block" not in body and "allocation.committed" not in body, body[:300]


def test_r25_concurrent_requests_take_distinct_slots_in_list_order(trial: Trial) -> None:
    client = set_up(trial, slots=50)
    clients = [trial.client(f"inv-{n:03d}") for n in range(2, 10)]
    for n in range(50):
        enrol(client, f"P-{n:03d}")

    def request(n: int) -> None:
        clients[n % len(clients)].request_randomisation(f"P-{n:03d}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(request, range(50)))
    assigned = [r.payload() or {} for r in trial.services.ledger.stream("allocation")
                if r.type == "slot.assigned"]
    assert [a["slot"] for a in assigned] == list(range(1, 51))  # list order, no gap, no repeat
    assert len({a["participant_id"] for a in assigned}) == 50
    randomiser = trial.services.rules.randomiser
    assert randomiser is not None
    arms = randomiser.allocation.strata["all"]
    for record in trial.services.ledger.records():
        if record.type == "participant.randomised":
            p = record.payload() or {}
            assert arms[p["slot"] - 1] == p["arm"]


def test_r26_allocation_verify_after_the_reveal(tmp_path: Path) -> None:
    trial = make_trial(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path / "home")
    client = set_up(trial, slots=22)
    for n in range(22):
        enrol(client, f"P-{n:03d}", randomise=True)
    trial.services.close()
    env = {"TRIAL_LEDGER_LEDGER_PASSPHRASE": LEDGER_PASS}
    db = ["--db", f"sqlite:///{tmp_path / 'ledger.db'}"]
    early = CliRunner().invoke(app, ["allocation", "verify", *db])
    assert early.exit_code == 1 and "not revealed" in early.stderr
    revealed = CliRunner().invoke(app, ["allocation", "reveal", *db, "--home", str(tmp_path / "home")],
                                  env=env)
    assert revealed.exit_code == 0, revealed.stderr
    ok = CliRunner().invoke(app, ["allocation", "verify", *db, "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout) == {"ok": True, "allocations": 22, "problems": []}
    with sqlite3.connect(tmp_path / "ledger.db") as conn:  # one randomised record's arm changed
        conn.execute("DROP TRIGGER stored_events_no_update")
        (state,) = conn.execute("SELECT state FROM stored_events WHERE originator_id='participant/P-007' "
                                "AND topic='participant.randomised'").fetchone()
        text = bytes(state).decode()
        flipped = (text.replace('\\"arm\\":\\"low\\"', '\\"arm\\":\\"medium_high\\"')
                   if '\\"arm\\":\\"low\\"' in text else
                   text.replace('\\"arm\\":\\"medium_high\\"', '\\"arm\\":\\"low\\"'))
        assert flipped != text
        conn.execute("UPDATE stored_events SET state=? WHERE originator_id='participant/P-007' AND "
                     "topic='participant.randomised'", (flipped.encode(),))
    bad = CliRunner().invoke(app, ["allocation", "verify", *db, "--json"])
    report = json.loads(bad.stdout)
    assert bad.exit_code == 1 and len(report["problems"]) == 1 and "P-007" in report["problems"][0]


def test_r27_blinded_roles_never_see_arm_dose_or_total_cells(trial: Trial) -> None:
    client = set_up(trial)
    receipts = []
    for n in range(1, 5):
        receipts.append(enrol(client, f"P-00{n}", randomise=True))
        arm = client.participant(f"P-00{n}")["arm"]
        receipts.append(infuse(client, trial, f"P-00{n}", DOSE[arm] * (1.5 if n == 2 else 1)))
    hashes = [r["record_hash"] for r in receipts] + \
             [f["record_hash"] for r in receipts for f in r["follow_ups"]]
    for role in ("monitor", "data_manager"):
        _, token = trial.user(f"{role}-1", role=role, site="sponsor")
        bodies = every_get_response(trial, token, [f"P-00{n}" for n in range(1, 5)], hashes)
        assert len(bodies) > 20
        for body in bodies:
            assert '"low"' not in body and "medium_high" not in body, body[:300]
            # A dose as a number, not seven digits that happen to sit inside a hash or base64.
            dose = re.search(r"(?<![0-9A-Za-z+/])(1000000|1500000|3000000|4500000|\d(\.\d+)?e\+06)"
                             r"(?![0-9A-Za-z])", body)
            assert dose is None, body[max(0, dose.start() - 150): dose.end() + 150]
            assert '"cells_per_kg":' not in body or '"cells_per_kg":"masked"' in body
            assert '"total_cells":' not in body or '"total_cells":"masked"' in body
            assert '"arm":' not in body or '"arm":"masked"' in body


def every_get_response(trial: Trial, token: str, participants: list[str], hashes: list[str]) -> list[str]:
    """The body of every GET route of the API, called with every value its path takes."""
    streams = [f"participant/{p}" for p in participants] + ["keys", "protocol", "allocation"]
    values = {"participant_id": participants, "record_hash": hashes, "stream": streams}
    # /v1/entry-types documents the formats (the same for every trial and caller): no data in it.
    gets = [path for path, ops in trial.http.get("/openapi.json").json()["paths"].items()
            if "get" in ops and path != "/v1/entry-types"]
    size = trial.services.ledger.tree.size()
    query = {"/v1/proofs/inclusion": {"leaf_index": 0, "tree_size": size},
             "/v1/proofs/consistency": {"first": 1, "second": size}}
    bodies = []
    for template in gets:
        names = [n.split(":")[0] for n in re.findall(r"{([^}]+)}", template)]
        fills: list[dict[str, str]] = [{}] if not names else [{names[0]: v} for v in values[names[0]]]
        for fill in fills:
            path = template
            for name, value in fill.items():
                path = re.sub(r"{" + name + r"(:[^}]*)?}", value, path)
            response = trial.http.get(path, headers={"Authorization": f"Bearer {token}"},
                                      params=query.get(template))
            assert response.status_code in (200, 403), (path, response.text[:200])
            bodies.append(_without_protocol(response.text))
    return bodies


def _without_protocol(text: str) -> str:
    """The body without the protocol's own records: the protocol names the arms (that is public);
    what must never show is a participant's arm."""
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            if value.get("stream") == "protocol":
                return "(protocol record)"
            return {k: strip(v) for k, v in value.items()}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    try:
        return json.dumps(strip(json.loads(text)), separators=(",", ":"))
    except ValueError:  # CSV or JSON Lines (the audit export): one record per line
        return "\n".join(line for line in text.splitlines()
                         if ",protocol," not in line and '"stream": "protocol"' not in line)


def test_r29_a_dose_off_the_arm_is_recorded_with_a_deviation(trial: Trial) -> None:
    client = set_up(trial)
    enrol(client, "P-001", randomise=True)
    arm = client.participant("P-001")["arm"]
    receipt = infuse(client, trial, "P-001", DOSE[arm] * 1.5)
    assert [f["type"] for f in receipt["follow_ups"]] == ["deviation.recorded"]
    seen = client.participant("P-001")
    assert seen["stage"] == "treated" and len(seen["infusions"]) == 1
    (deviation,) = seen["deviations"]
    assert deviation["kind"] == "dose_mismatch" and deviation["record"] == receipt["record_hash"]
    enrol(client, "P-002", randomise=True)
    good = infuse(client, trial, "P-002", DOSE[client.participant("P-002")["arm"]])
    assert good["follow_ups"] == []
    # total cells off the weight: a deviation too
    enrol(client, "P-003", randomise=True)
    dose = DOSE[client.participant("P-003")["arm"]]
    end = trial.clock.now - timedelta(minutes=5)
    off = client.record_infusion("P-003", infusion_number=1, started_at=end - timedelta(hours=1),
                                 ended_at=end, weight_kg=64.0, cells_per_kg=dose,
                                 total_cells=dose * 80.0, lot="UC-3")
    assert [f["type"] for f in off["follow_ups"]] == ["deviation.recorded"]


def test_exits_keep_every_record_and_end_what_must_end(trial: Trial) -> None:
    client = set_up(trial)
    enrol(client, "P-001", randomise=True)
    assert refused(client.append, "participant/P-001", "participant.withdrawn",
                   {"on": "2026-03-02"}, reason="moved abroad") == "disposition.reason_not_coded"
    client.append("participant/P-001", "participant.withdrawn",
                  {"on": "2026-03-02", "reason": "other", "reason_text": "moved abroad"}, schema=2)
    assert refused(infuse, client, trial, "P-001", 1e6) == "participant.exited"
    assert client.participant("P-001")["stage"] == "withdrawn"
    assert len(trial.services.ledger.stream("participant/P-001")) == 7  # nothing removed


def test_randomisation_stops_at_the_enrolment_target_until_an_amendment_raises_it(
        trial: Trial) -> None:
    from api.services.trial_setup import default_protocol

    client = set_up(trial, slots=4, document={**default_protocol(), "target_enrolment": 2})
    for pid in ("P-001", "P-002"):
        enrol(client, pid, randomise=True)
    enrol(client, "P-003")
    assert refused(client.request_randomisation, "P-003") == "enrolment.target_reached"
    assert client.participant("P-003")["stage"] == "eligible"  # the request is not recorded
    admin = trial.client("sponsor-admin", role="admin", site="sponsor")
    admin.append("protocol", "protocol.amended",
                 {"document": {**default_protocol(), "version": "1.0.1", "target_enrolment": 3}},
                 reason="enrolment target raised to 3 (ethics committee approval)")
    client.request_randomisation("P-003")
    assert client.participant("P-003")["stage"] == "randomised"


def test_r25_an_invalidated_slot_is_never_reused(trial: Trial) -> None:
    client = set_up(trial)
    enrol(client, "P-001", randomise=True)
    first = client.participant("P-001")
    assert refused(client.append, "participant/P-001", "randomisation.invalidated",
                   {"slot_error": "wrong participant"}) == "randomisation.reason_required"
    receipt = client.invalidate_randomisation("P-001", what="wrong participant randomised",
                                              reason="request entered for the wrong participant")
    assert [f["stream"] for f in receipt["follow_ups"]] == []  # the allocation stream stays hidden
    assert client.participant("P-001")["stage"] == "eligible"
    client.request_randomisation("P-001")
    enrol(client, "P-002", randomise=True)
    events = [(r.type, (r.payload() or {}).get("slot"), r.entry.fields["reason"])
              for r in trial.services.ledger.stream("allocation")[1:]]
    assert events == [("slot.assigned", 1, None),
                      ("slot.invalidated", 1, "request entered for the wrong participant"),
                      ("slot.assigned", 2, None), ("slot.assigned", 3, None)]
    assert first["stage"] == "randomised"


def test_r28_emergency_unblinding_reveals_one_participant_and_is_reported(
        trial: Trial, tmp_path: Path) -> None:
    from ledger.keys import save_private_key

    client = set_up(trial)
    enrol(client, "P-001", randomise=True)
    enrol(client, "P-002", randomise=True)
    key_file = tmp_path / "inv.key"
    save_private_key(client.signer.key, key_file, "inv-passphrase")
    with pytest.raises(Exception, match="wrong passphrase"):  # re-authentication is checked
        client.request_unblinding("P-001", reason="anaphylaxis", informed=["sponsor medical monitor"],
                                  key_file=key_file, passphrase="not-it", occurred_at=trial.clock.now)
    assert refused(client.append, "participant/P-001", "unblinding.requested",
                   {"informed": ["sponsor"], "emergency": True}, meaning="responsibility") == \
        "unblinding.reason_required"
    stale = trial.clock.now - timedelta(hours=1)
    assert refused(client.append, "participant/P-001", "unblinding.requested",
                   {"informed": ["sponsor"], "emergency": True}, meaning="responsibility",
                   reason="anaphylaxis", occurred_at=stale) == "unblinding.stale_signature"
    receipt = client.request_unblinding("P-001", reason="anaphylaxis after infusion",
                                        informed=["sponsor medical monitor", "ethics committee"],
                                        key_file=key_file, passphrase="inv-passphrase",
                                        occurred_at=trial.clock.now)
    (revealed,) = receipt["follow_ups"]
    assert revealed["type"] == "participant.unblinded" and revealed["stream"] == "participant/P-001"
    record = next(r for r in trial.services.ledger.stream("participant/P-001")
                  if r.type == "participant.unblinded")
    assert (record.payload() or {})["arm"] == trial.services.views.participant("P-001").arm  # type: ignore[union-attr]
    assert not [r for r in trial.services.ledger.stream("participant/P-002")
                if r.type == "participant.unblinded"]  # exactly one participant
    _, token = trial.user("mon-001", role="monitor", site="sponsor")
    report = trial.http.get("/v1/unblindings", headers={"Authorization": f"Bearer {token}"}).json()
    (row,) = report["unblindings"]
    assert row["participant_id"] == "P-001" and row["by"] == "inv-001"
    assert row["reason"] == "anaphylaxis after infusion"
    assert row["informed"] == ["sponsor medical monitor", "ethics committee"]
    assert "arm" not in row and "low" not in json.dumps(report) and "medium_high" not in json.dumps(report)


def test_a_protocol_amendment_is_a_record_and_later_entries_are_decided_under_it(trial: Trial) -> None:
    from api.services.trial_setup import default_protocol

    client = set_up(trial)
    admin = trial.client("sponsor-admin", role="admin", site="sponsor")
    amended = {**default_protocol(), "version": "1.1", "age_max": 75}
    assert refused(admin.append, "protocol", "protocol.amended", {"document": amended}) == \
        "protocol.reason_required"
    assert refused(client.append, "protocol", "protocol.amended", {"document": amended},
                   reason="x") == "entry.role_not_allowed"
    admin.append("protocol", "protocol.amended", {"document": amended}, reason="upper age 75 (IRB)")
    client.register_participant("P-001", sex="F", date_of_birth="1948-01-01", weight_kg=64.0)
    client.sign_consent("P-001", form_version="1.0", signed_on="2026-03-01")
    old = {"protocol_version": "1.0", "assessed_on": "2026-03-02", "esld_confirmed": True,
           "answers": ELIGIBLE}
    assert refused(client.append, "participant/P-001", "eligibility.assessed", old) == \
        "eligibility.protocol_version"
    # 78 years old: eligible under 1.0, not under 1.1 (age 18–75).
    client.append("participant/P-001", "eligibility.assessed",
                  {**old, "protocol_version": "1.1", "answers": {**ELIGIBLE, "inc-1": False}})
    seen = client.participant("P-001")
    assert seen["stage"] == "screen_failed" and seen["failed_criteria"] == ["inc-1"]


def test_r21_follow_up_visits_never_predate_the_infusion(trial: Trial) -> None:
    client = set_up(trial)
    enrol(client, "P-001", randomise=True)
    visit = "participant/P-001"
    assert refused(client.append, visit, "visit.completed", {"visit": "week_1", "on": "2026-03-02"}) == \
        "visit.before_infusion"
    client.append(visit, "visit.completed", {"visit": "baseline", "on": "2026-03-01"})
    trial.clock.step(days=30)
    arm = client.participant("P-001")["arm"]
    start = datetime(2026, 3, 5, 9, tzinfo=UTC)
    client.record_infusion("P-001", infusion_number=1, started_at=start, ended_at=start + timedelta(hours=1),
                           weight_kg=64.0, cells_per_kg=DOSE[arm], total_cells=DOSE[arm] * 64, lot="UC-1")
    assert refused(client.append, visit, "visit.completed", {"visit": "week_1", "on": "2026-03-04"}) == \
        "visit.before_infusion"
    on_time = client.append(visit, "visit.completed", {"visit": "week_1", "on": "2026-03-12"})
    assert on_time["follow_ups"] == []
    late = client.append(visit, "visit.completed", {"visit": "week_4", "on": "2026-03-20"})
    assert [f["type"] for f in late["follow_ups"]] == ["deviation.recorded"]  # outside 28 ± 7 days
    assert refused(client.append, visit, "visit.completed", {"visit": "week_1", "on": "2026-03-12"}) == \
        "visit.done_already"
    assert [v["visit"] for v in client.participant("P-001")["visits"]] == ["baseline", "week_1", "week_4"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(slot=st.integers(1, 10_000), stratum=st.sampled_from(["all", "male", "female"]),
       arm=st.sampled_from(["low", "medium_high"]), follow_version=st.integers(7, 10_000))
def test_r24_property_no_investigator_view_carries_a_slot(sqlite_trial: Trial, slot: int, stratum: str,
                                                          arm: str, follow_version: int) -> None:
    """Whatever the allocation, what an investigator is shown carries no slot, stratum or slot
    counter (the allocation stream's versions)."""
    from api.services import blinding

    state = {"participant_id": "P-001", "stage": "randomised", "slot": slot, "stratum": stratum,
             "arm": arm, "infusions": [{"cells_per_kg": 1e6}], "deviations": []}
    receipt = {"record_hash": "a" * 64, "stream": "participant/P-001", "version": 5,
               "type": "randomisation.requested",
               "follow_ups": [{"stream": "allocation", "version": follow_version, "type": "slot.assigned"},
                              {"stream": "participant/P-001", "version": 6,
                               "type": "participant.randomised"}]}
    for role in ("investigator", "monitor", "data_manager"):
        shown = json.dumps([blinding.mask_participant(sqlite_trial.services, role, state),
                            blinding.mask_receipt(role, receipt)])
        assert f'"slot": {slot}' not in shown and f'"version": {follow_version}' not in shown
        assert f'"stratum": "{stratum}"' not in shown and "allocation" not in shown
