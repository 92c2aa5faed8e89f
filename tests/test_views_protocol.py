"""The score view follows the protocol in force: an amendment rescores the participants recorded
before it, live, and a rebuild from zero gives the same view (R33)."""

from __future__ import annotations

import json
from datetime import datetime
from importlib import resources
from typing import Any

from .conftest import Trial
from .test_labs import WEEK_4, treated

PANEL = {"TBIL": (71.82, "µmol/L"), "INR": (1.2, "ratio"), "CREAT": (1.9, "mg/dL"),
         "SODIUM": (130.0, "mmol/L"), "ALB": (28.0, "g/L")}


def _document(version: str) -> dict[str, Any]:
    name = "nct06167473.json" if version == "1.0" else f"nct06167473-{version}.json"
    document: dict[str, Any] = json.loads(
        resources.files("domain.protocols").joinpath(name).read_text("utf-8"))
    return document


def test_r33_an_amendment_rescores_earlier_participants_live_and_in_a_rebuild(trial: Trial) -> None:
    client, _ = treated(trial)
    for analyte, (value, unit) in PANEL.items():
        client.record_lab("P-001", visit="week_4", analyte=analyte, value=value, unit=unit,
                          sampled_at=WEEK_4)
    client.record_assessment("P-001", visit="week_4", ascites="mild", encephalopathy_grade=1,
                             dialysis=False, observed_on=WEEK_4.date())
    _, token = trial.user("dm-001", role="data_manager", site="sponsor")
    headers = {"Authorization": f"Bearer {token}"}

    def scores() -> dict[str, Any]:
        answer = trial.http.get("/v1/participants/P-001/scores", headers=headers)
        assert answer.status_code == 200, answer.text
        week_4: dict[str, Any] = answer.json()["scores"]["week_4"]
        return week_4

    before = scores()
    assert before["MELD"]["value"] == 20 and "primary" not in before["MELD"]  # 1.0 names none
    admin = trial.client("sponsor-admin", role="admin", site="sponsor")
    admin.append("protocol", "protocol.amended", {"document": _document("1.1")},
                 reason="baseline, primary score and concomitant medications defined")
    after = scores()  # nothing new on P-001's stream: the amendment alone rescored it
    assert after["MELD"]["primary"] is True and after["MELD"]["value"] == 20
    assert "primary" not in after["Child-Pugh"]
    live = trial.http.get("/v1/projections", headers=headers).json()["projections"]
    rebuilt = trial.http.post("/v1/projections/rebuild", headers=headers).json()["projections"]
    assert rebuilt == live
    assert scores() == after


def test_the_participant_page_shows_each_score_s_change_from_baseline_and_the_primary_score(
        sqlite_trial: Trial) -> None:
    import re
    import warnings

    from api.http.app import create_app
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    trial = sqlite_trial
    client, _ = treated(trial)
    baseline = {**PANEL, "TBIL": (34.2, "µmol/L")}  # 2.0 mg/dL at baseline, 4.2 at week 4
    for visit, panel, day in (("baseline", baseline, "2026-03-03"), ("week_4", PANEL, None)):
        for analyte, (value, unit) in panel.items():
            client.record_lab("P-001", visit=visit, analyte=analyte, value=value, unit=unit,
                              sampled_at=datetime.fromisoformat(f"{day}T08:00:00+00:00")
                              if day else WEEK_4)
        client.record_assessment("P-001", visit=visit, ascites="mild", encephalopathy_grade=1,
                                 dialysis=False, observed_on=day or WEEK_4.date())
    admin = trial.client("sponsor-admin", role="admin", site="sponsor")
    admin.append("protocol", "protocol.amended", {"document": _document("1.1")},
                 reason="baseline, primary score and concomitant medications defined")
    _, token = trial.user("stat-001", role="unblinded_statistician", site="sponsor")
    scores = trial.http.get("/v1/participants/P-001/scores",
                            headers={"Authorization": f"Bearer {token}"}).json()["scores"]
    change = scores["week_4"]["MELD"]["value"] - scores["baseline"]["MELD"]["value"]
    assert change > 0 and scores["week_4"]["MELD"]["change_from_baseline"] == change
    http = TestClient(create_app(trial.services))
    http.post("/ui/login", data={"token": token, "next": "/ui/"}, follow_redirects=False)
    page = http.get("/ui/participants/P-001").text
    assert "MELD (primary)" in page
    week_4 = re.search(r'<tr data-visit="week_4">.*?</tr>', page, re.DOTALL)
    assert week_4 is not None and f'<span data-testid="change">[+{change}]</span>' in week_4.group(0)
