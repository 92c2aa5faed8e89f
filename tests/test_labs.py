"""Lab results, corrections, removals and queries through the SDK (R3, R4, R5, R10, R30)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.client.sdk import LedgerClient, LedgerClientError

from .conftest import Trial
from .test_trial_domain import DOSE, enrol, set_up

INFUSED = datetime(2026, 3, 5, 9, tzinfo=UTC)
WEEK_4 = INFUSED + timedelta(days=28)


def treated(trial: Trial) -> tuple[LedgerClient, LedgerClient]:
    """A randomised participant infused on 5 March; the clock is 40 days later."""
    client = set_up(trial)
    enrol(client, "P-001", randomise=True)
    trial.clock.step(days=40)
    arm = client.participant("P-001")["arm"]
    client.record_infusion("P-001", infusion_number=1, started_at=INFUSED,
                           ended_at=INFUSED + timedelta(hours=1), weight_kg=64.0,
                           cells_per_kg=DOSE[arm], total_cells=DOSE[arm] * 64, lot="UC-1")
    monitor = trial.client("mon-001", role="monitor", site="sponsor")
    return client, monitor


def refused(call: Any, *args: Any, **kw: Any) -> str:
    with pytest.raises(LedgerClientError) as caught:
        call(*args, **kw)
    assert caught.value.status == 422
    return caught.value.rule


def test_r05_one_record_per_analyte(trial: Trial) -> None:
    client, _ = treated(trial)
    panel = {"ALT": (56.0, "U/L"), "AST": (71.0, "U/L"), "TBIL": (41.0, "µmol/L"), "INR": (1.4, "ratio")}
    receipts = {a: client.record_lab("P-001", visit="week_4", analyte=a, value=v, unit=u,
                                     sampled_at=WEEK_4) for a, (v, u) in panel.items()}
    assert len({r["record_hash"] for r in receipts.values()}) == 4  # one record each
    client.correct_lab("P-001", supersedes=receipts["ALT"]["record_hash"], value=65.0, unit="U/L",
                       reason="transcription error")
    labs = client.participant("P-001")["labs"]
    assert labs["week_4/ALT"]["value"] == 65.0 and labs["week_4/AST"]["history"] == []  # only ALT changed
    cleared = client.correct_lab("P-001", supersedes=labs["week_4/INR"]["record_hash"], value=None,
                                 unit="ratio", reason="sample haemolysed")
    labs = client.participant("P-001")["labs"]
    assert labs["week_4/INR"]["value"] is None and labs["week_4/INR"]["record_hash"] == cleared["record_hash"]
    assert labs["week_4/INR"]["history"][0]["value"] == 1.4  # clearing is audited too


def test_r03_week4_alt_queried_corrected_and_both_values_in_history(trial: Trial) -> None:
    client, monitor = treated(trial)
    first = client.record_lab("P-001", visit="week_4", analyte="ALT", value=560.0, unit="U/L",
                              sampled_at=WEEK_4)
    query = monitor.open_query("P-001", record=first["record_hash"], field="value",
                               text="ALT 560 U/L is ten times the baseline: please check")
    client.answer_query("P-001", query=query["record_hash"], text="decimal slipped: 56.0")
    assert refused(client.correct_lab, "P-001", supersedes=first["record_hash"], value=56.0,
                   unit="U/L", reason=None) == "lab.reason_required"
    fixed = client.correct_lab("P-001", supersedes=first["record_hash"], value=56.0, unit="U/L",
                               reason="transcription error (query answered)", query=query["record_hash"])
    monitor.close_query("P-001", query=query["record_hash"])
    history = client.history("P-001")
    by_hash = {row["record_hash"]: row for row in history}
    original, correction = by_hash[first["record_hash"]], by_hash[fixed["record_hash"]]
    assert original["payload"]["value"] == 560.0 and original["author"] == "inv-001"
    assert correction["payload"]["value"] == 56.0
    assert correction["payload"]["supersedes"] == first["record_hash"]
    assert correction["reason"] == "transcription error (query answered)"
    assert correction["payload"]["query"] == query["record_hash"]
    assert original["recorded_at"] <= correction["recorded_at"]
    seen = client.participant("P-001")
    assert seen["labs"]["week_4/ALT"]["value"] == 56.0
    assert seen["labs"]["week_4/ALT"]["history"][0]["value"] == 560.0  # original retrievable
    assert seen["queries"][query["record_hash"]]["status"] == "closed"


def test_r04_removal_needs_a_reason_keeps_history_and_reentry_is_new(trial: Trial) -> None:
    client, _ = treated(trial)
    first = client.record_lab("P-001", visit="week_4", analyte="AST", value=71.0, unit="U/L",
                              sampled_at=WEEK_4)
    assert refused(client.append, "participant/P-001", "lab.removed",
                   {"supersedes": first["record_hash"]}) == "lab.reason_required"
    client.remove_lab("P-001", supersedes=first["record_hash"], reason="entered for the wrong participant")
    assert "week_4/AST" not in client.participant("P-001")["labs"]
    assert any(r["record_hash"] == first["record_hash"] for r in client.history("P-001"))
    again = client.record_lab("P-001", visit="week_4", analyte="AST", value=70.0, unit="U/L",
                              sampled_at=WEEK_4)
    assert again["type"] == "lab.resulted"
    assert client.participant("P-001")["labs"]["week_4/AST"]["value"] == 70.0


def test_r10_sample_time_is_kept_apart_from_record_time(trial: Trial) -> None:
    client, _ = treated(trial)
    receipt = client.record_lab("P-001", visit="week_4", analyte="INR", value=1.3, unit="ratio",
                                sampled_at=WEEK_4)
    row = next(r for r in client.history("P-001") if r["record_hash"] == receipt["record_hash"])
    assert row["payload"]["sampled_at"] == WEEK_4.isoformat()
    assert row["recorded_at"].startswith("2026-04-1")  # the server's clock, 40 days on
    assert row["recorded_at"].endswith("Z")


def test_lab_rules_refuse_with_named_rules(trial: Trial) -> None:
    client, monitor = treated(trial)
    lab = client.record_lab
    assert refused(lab, "P-001", visit="week_4", analyte="ALT", value=25000.0, unit="U/L",
                   sampled_at=WEEK_4) == "lab.implausible"
    assert refused(lab, "P-001", visit="week_4", analyte="ALT", value=50.0, unit="mg/dL",
                   sampled_at=WEEK_4) == "lab.unknown_unit"
    assert refused(lab, "P-001", visit="week_4", analyte="GGT", value=50.0, unit="U/L",
                   sampled_at=WEEK_4) == "lab.unknown_analyte"
    assert refused(lab, "P-001", visit="week_1", analyte="ALT", value=50.0, unit="U/L",
                   sampled_at=INFUSED - timedelta(days=1)) == "visit.before_infusion"
    late = lab("P-001", visit="week_1", analyte="ALT", value=50.0, unit="U/L",
               sampled_at=INFUSED + timedelta(days=20))
    assert [f["type"] for f in late["follow_ups"]] == ["deviation.recorded"]  # accepted, flagged
    assert refused(monitor.open_query, "P-001", record="0" * 64, field="value",
                   text="?") == "query.unknown_record"
    assert refused(client.open_query, "P-001", record=late["record_hash"], field="value",
                   text="?") == "entry.role_not_allowed"


def test_r09_a_failed_edit_check_is_recorded_and_the_correction_names_it(trial: Trial) -> None:
    client, _ = treated(trial)
    with pytest.raises(LedgerClientError) as caught:
        client.record_lab("P-001", visit="week_4", analyte="ALT", value=25000.0, unit="U/L",
                          sampled_at=WEEK_4)
    problem = caught.value.problem
    assert problem["rule"] == "lab.implausible" and problem["field"] == "payload.value"
    refusal = next(e["record_hash"] for e in problem["errors"] if e["field"] == "refusal")
    row = next(r for r in client.history("P-001") if r["record_hash"] == refusal)
    assert row["type"] == "edit_check.failed" and row["author"] == "system"
    assert row["payload"]["value"] == 25000.0 and row["payload"]["check"] == "lab.implausible"
    assert row["payload"]["submitted_by"] == "inv-001" and row["recorded_at"].endswith("Z")
    assert "week_4/ALT" not in client.participant("P-001")["labs"]  # nothing of the entry was written
    fixed = client.append("participant/P-001", "lab.resulted", {
        "visit": "week_4", "analyte": "ALT", "value": 250.0, "unit": "U/L",
        "sampled_at": WEEK_4.isoformat(), "refusal": refusal})
    assert client.participant("P-001")["labs"]["week_4/ALT"]["refusal"] == refusal
    assert fixed["type"] == "lab.resulted"


def test_a_value_outside_the_expected_range_opens_a_query_instead(trial: Trial) -> None:
    client, _ = treated(trial)
    receipt = client.record_lab("P-001", visit="week_4", analyte="SODIUM", value=105.0, unit="mmol/L",
                                sampled_at=WEEK_4)
    assert [f["type"] for f in receipt["follow_ups"]] == ["query.opened"]
    (query,) = client.participant("P-001")["queries"].values()
    assert query["record"] == receipt["record_hash"] and query["by"] == "system"
    assert query["status"] == "open"


def test_scores_per_visit_from_current_values_naming_their_input_records(trial: Trial) -> None:
    client, _ = treated(trial)
    panel = {"TBIL": (71.82, "µmol/L"), "INR": (1.2, "ratio"), "CREAT": (1.9, "mg/dL"),
             "SODIUM": (130.0, "mmol/L"), "ALB": (28.0, "g/L")}
    receipts = {a: client.record_lab("P-001", visit="week_4", analyte=a, value=v, unit=u,
                                     sampled_at=WEEK_4) for a, (v, u) in panel.items()}
    missing = client.participant("P-001")["scores"]["week_4"]
    assert missing["MELD"] == {"missing": ["assessment"]}
    assessed = client.append("participant/P-001", "assessment.recorded", {
        "visit": "week_4", "ascites": "mild", "encephalopathy_grade": 1, "dialysis": False,
        "observed_on": str(WEEK_4.date())}, schema=2)
    scores = client.participant("P-001")["scores"]["week_4"]
    # MELD by hand: bilirubin 71.82 µmol/L = 4.2 mg/dL; 10 × (0.957 ln 1.9 + 0.378 ln 4.2
    # + 1.120 ln 1.2 + 0.643) = 19.53…, reported 20.
    import math

    expected = 10 * (0.957 * math.log(1.9) + 0.378 * math.log(4.2) + 1.120 * math.log(1.2) + 0.643)
    assert abs(scores["MELD"]["unrounded"] - expected) < 1e-6 and scores["MELD"]["value"] == 20
    assert scores["MELD"]["input_records"] == [receipts[a]["record_hash"] for a in ("TBIL", "INR", "CREAT")] \
        + [assessed["record_hash"]]
    # Child-Pugh: bilirubin 4.2 → 3, albumin 2.8 g/dL → 2, INR 1.2 → 1, mild ascites 2, HE 1 → 2.
    assert scores["Child-Pugh"]["value"] == 10 and scores["Child-Pugh"]["class_"] == "C"
    assert scores["MELD-Na"]["version"] == "OPTN-2016" and "MELD 3.0" in scores
    client.correct_lab("P-001", supersedes=receipts["TBIL"]["record_hash"], value=20.0, unit="µmol/L",
                       reason="wrong specimen")
    corrected = client.participant("P-001")["scores"]["week_4"]
    assert corrected["MELD"]["value"] < 20 and corrected["Child-Pugh"]["points"]["bilirubin"] == 1


def test_findings_without_their_observation_date_are_refused_and_nothing_is_written(
        trial: Trial) -> None:
    client, _ = treated(trial)
    before = len(trial.services.ledger.stream("participant/P-001"))
    findings = {"visit": "week_4", "ascites": "none", "encephalopathy_grade": 0, "dialysis": False}
    assert refused(client.append, "participant/P-001", "assessment.recorded", findings) == \
        "assessment.observed_on_required"
    assert refused(client.append, "participant/P-001", "assessment.recorded",
                   {**findings, "observed_on": str((INFUSED - timedelta(days=1)).date())},
                   schema=2) == "visit.before_infusion"
    assert len(trial.services.ledger.stream("participant/P-001")) == before
    late = client.append("participant/P-001", "assessment.recorded",
                         {**findings, "observed_on": str((WEEK_4 + timedelta(days=9)).date())},
                         schema=2)
    assert [f["type"] for f in late["follow_ups"]] == ["deviation.recorded"]
    (deviation,) = [r for r in client.history("P-001") if r["type"] == "deviation.recorded"]
    assert (deviation["payload"]["kind"], deviation["payload"]["record"]) == \
        ("assessment_out_of_window", late["record_hash"])


def test_r40_a_lab_sampled_before_consent_is_refused_and_nothing_is_written(trial: Trial) -> None:
    client = set_up(trial)
    enrol(client, "P-001")  # consent signed on 1 March
    before = len(trial.services.ledger.stream("participant/P-001"))
    with pytest.raises(LedgerClientError) as caught:
        client.record_lab("P-001", visit="baseline", analyte="ALT", value=30.0, unit="U/L",
                          sampled_at=datetime(2026, 2, 28, 8, tzinfo=UTC))
    assert (caught.value.status, caught.value.rule) == (422, "consent.procedure_before_consent")
    assert len(trial.services.ledger.stream("participant/P-001")) == before
    client.record_lab("P-001", visit="baseline", analyte="ALT", value=30.0, unit="U/L",
                      sampled_at=datetime(2026, 3, 1, 8, tzinfo=UTC))  # the day of consent
    assert len(trial.services.ledger.stream("participant/P-001")) == before + 1
