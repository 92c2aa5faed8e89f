"""The masking scan (R27): over the whole simulated trial (22 participants, every record), every
response a blinded role can get — each GET route with every value its path takes, every record
by hash, every stream, the audit trail (JSON, CSV, JSON Lines), the participant flow (JSON, CSV),
the ODM export and every casebook PDF, the trial's safety (SAE clocks, adverse events, counts,
survival), and the viewer's pages (overview, charts, flow, safety, every participant, the
clinical records of docs/clinical.md one by one and in the audit search) — holds no arm and no
dose, while the adverse events themselves are shown. The same scan finds them for an unblinded
role, so it can see what it looks for."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdf
import pytest
from fastapi.testclient import TestClient

from api.http.app import create_app

from .conftest import DemoTrial, make_demo

ARM = re.compile(r"(?<![0-9A-Za-z+/_-])(low|medium_high)(?![0-9A-Za-z+/_-])")
DOSE = re.compile(r"(?<![0-9A-Za-z+/.])(1000000|1500000|3000000|4500000|\d(\.\d+)?e\+06"
                  r"|\d(\.\d+)? × 10⁶)(?![0-9A-Za-z])")  # a number, or as the viewer words it
FIELDS = re.compile(r"(cells_per_kg|total_cells|\"arm\")\W+(?!masked|null)[\w.]")
# The same fields on a viewer page: the arm's cell, a dose's label, unless masked or empty.
PAGE_FIELDS = re.compile(r'data-testid="arm">(?!masked<|—<)|(Dose|Total cells)</dt><dd>'
                         r'(?!<span class="masked">masked<)')
#: The records of docs/clinical.md: each one's viewer page is scanned, and the audit search by type.
CLINICAL = ("medical_history.recorded", "medication.recorded", "medication.stopped",
            "deviation.reported", "deviation.resolved", "visit.missed", "treatment.discontinued",
            "participant.withdrawn", "participant.lost_to_follow_up", "participant.completed",
            "vital_status.recorded", "assessment.recorded", "deviation.recorded",
            "adverse_event.reported", "adverse_event.updated", "adverse_event.resolved",
            "death.recorded", "transplant.recorded", "safety_report.submitted")


@pytest.fixture(scope="module")
def full_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoTrial]:
    d = make_demo(tmp_path_factory.mktemp("full-demo"), participants=22)
    yield d
    d.services.close()


def _responses(demo: DemoTrial, token: str) -> Iterator[tuple[str, str]]:
    """(path, text) of every response: PDFs as their text, JSON without the protocol's records
    (the protocol names the arms and their doses: that is public; a participant's arm is not)."""
    services = demo.services
    participants = sorted(services.views.participants())
    records = [r for r in services.ledger.records() if r.stream != "protocol"]
    streams = sorted({r.stream for r in records})
    size = services.ledger.tree.size()
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(services)) as http:
        spec = http.get("/openapi.json").json()
        paths = [p for p, ops in spec["paths"].items() if "get" in ops and p != "/v1/entry-types"]
        values = {"participant_id": participants, "record_hash": [r.hash for r in records],
                  "stream": streams}
        query: dict[str, dict[str, Any]] = {
            "/v1/proofs/inclusion": {"leaf_index": 0, "tree_size": size},
            "/v1/proofs/consistency": {"first": 1, "second": size},
            "/v1/log": {"limit": 1000}, "/v1/audit": {"limit": 1000},
            "/v1/participants": {"limit": 1000}, "/v1/allocation": {"limit": 1000},
            "/v1/export/certified-copy": {"site": "site-01"}}
        calls: list[tuple[str, dict[str, Any]]] = []
        for template in paths:
            names = [n.split(":")[0] for n in re.findall(r"{([^}]+)}", template)]
            fills = [{}] if not names else [{names[0]: v} for v in values[names[0]]]
            for fill in fills:
                path = template
                for name, value in fill.items():
                    path = re.sub(r"{" + name + r"(:[^}]*)?}", value, path)
                calls.append((path, query.get(template, {})))
                if template == "/v1/log":  # the log pages by leaf index: `start`
                    calls += [(path, {"limit": 1000, "start": n}) for n in range(1000, size, 1000)]
                if template == "/v1/audit":
                    calls += [(path, {"limit": 1000, "offset": n}) for n in range(1000, size, 1000)]
        calls += [("/v1/export/audit", {"format": "jsonl"}), ("/v1/flow", {"format": "csv"})]
        for path, params in calls:
            got = http.get(path, headers=headers, params=params)
            assert got.status_code in (200, 403, 404), (path, got.status_code, got.text[:200])
            if got.status_code != 200:
                continue
            kind = got.headers.get("content-type", "")
            if kind.startswith("application/pdf"):
                pages = pypdf.PdfReader(io.BytesIO(got.content)).pages
                yield path, " ".join(page.extract_text() for page in pages)
            elif kind.startswith("application/json"):
                yield path, _without_protocol(got.json())
            elif kind.startswith("application/x-ndjson"):
                yield path, "\n".join(_without_protocol(json.loads(line))
                                      for line in got.text.splitlines())
            elif kind.startswith("text/csv"):
                rows = list(csv.reader(io.StringIO(got.text)))
                if "stream" not in rows[0]:  # counts (the flow), no records
                    yield path, got.text
                    continue
                at = rows[0].index("stream")
                yield path, "\n".join(",".join(r) for r in rows if r[at] != "protocol")
            else:
                yield path, got.text
        yield from _pages(http, demo, token)


def _pages(http: TestClient, demo: DemoTrial, token: str) -> Iterator[tuple[str, str]]:
    """The viewer's pages as the same user sees them: overview, charts, the flow (page and CSV),
    the safety page, every participant, every clinical record and the audit search for each clinical type."""
    services = demo.services
    signed_in = http.post("/ui/login", data={"token": token, "next": "/ui/"}, follow_redirects=False)
    assert signed_in.status_code == 303, signed_in.text[:200]
    clinical = [r.hash for r in services.ledger.records() if r.stream.startswith("participant/")
                and r.type in CLINICAL]
    paths = ["/ui/", "/ui/charts", "/ui/flow", "/ui/flow.csv", "/ui/safety",
             *(f"/ui/participants/{pid}" for pid in sorted(services.views.participants())),
             *(f"/ui/records/{h}" for h in clinical),
             *(f"/ui/audit?type={kind}" for kind in CLINICAL)]
    for path in paths:
        got = http.get(path)
        assert got.status_code in (200, 404), (path, got.status_code)  # 404: another site's
        if got.status_code == 200:
            yield path, got.text.replace("/ui/static/viewer.css", "")
    http.cookies.clear()


def _without_protocol(value: Any) -> str:
    def strip(v: Any) -> Any:
        if isinstance(v, dict):
            return "(protocol record)" if v.get("stream") == "protocol" else {
                k: strip(x) for k, x in v.items()}
        return [strip(x) for x in v] if isinstance(v, list) else v

    return json.dumps(strip(value), separators=(",", ":"))


def _findings(text: str) -> list[str]:
    fields = PAGE_FIELDS if text.lstrip().lower().startswith("<!doctype html") else FIELDS
    found = [m.group(0) for m in (ARM.search(text), DOSE.search(text), fields.search(text)) if m]
    return found


@pytest.mark.parametrize("author", ["mon-01", "dm-01"])
def test_r27_masking_scan_of_every_response_of_the_full_demo(full_demo: DemoTrial, author: str) -> None:
    seen, paths, shown = 0, set(), {}
    for path, text in _responses(full_demo, full_demo.tokens[author]):
        assert not _findings(text), (author, path, _findings(text))
        seen += 1
        paths.add(re.sub(r"/[0-9a-f]{64}|/P-\d{3}", "/…", path))
        if path in ("/v1/safety", "/ui/safety"):
            shown[path] = text
    records = sum(1 for _ in full_demo.services.ledger.records())
    assert seen > records  # every record by hash, and every other route besides
    assert {"/v1/export/odm", "/v1/export/audit", "/v1/export/casebook/…",
            "/v1/participants/…/history", "/v1/records/…", "/v1/flow", "/ui/flow", "/ui/flow.csv",
            "/ui/participants/…", "/ui/records/…", "/ui/", "/v1/safety", "/ui/safety"} <= paths
    # the blinded role sees every adverse event, pooled, with no arm (scanned above)
    events = [r for r in full_demo.services.ledger.records()
              if r.type == "adverse_event.reported" and r.redacted_by is None]
    assert events
    answer = json.loads(shown["/v1/safety"])
    assert {e["event"] for e in answer["adverse_events"]} == {r.hash for r in events}
    assert "arms" not in answer["summary"] and "per_arm" not in answer["survival"]
    assert all(f'href="/ui/records/{r.hash}"' in shown["/ui/safety"] for r in events)
    written = {r.type for r in full_demo.services.ledger.records()} & set(CLINICAL)
    assert written >= {"deviation.reported", "visit.missed", "medication.recorded",
                       "medical_history.recorded", "vital_status.recorded", "death.recorded",
                       "transplant.recorded", "safety_report.submitted"}, written
    assert {f"/ui/audit?type={kind}" for kind in written} <= paths


def test_the_scan_finds_arms_and_doses_where_they_may_be_shown(full_demo: DemoTrial) -> None:
    hits = {path for path, text in _responses(full_demo, full_demo.tokens["insp-01"]) if _findings(text)}
    assert any(p.startswith("/v1/export/casebook/") for p in hits)
    assert "/v1/export/odm" in hits and "/v1/allocation" in hits
    assert any(p.startswith("/v1/records/") for p in hits)
    assert any(p.startswith("/ui/participants/") for p in hits) and "/ui/flow" in hits
    assert {"/v1/safety", "/ui/safety"} <= hits  # per arm for a role that may see the arms


def test_scan_patterns_match_what_they_are_for(tmp_path: Path) -> None:
    assert _findings('{"arm":"low"}') and _findings("cells_per_kg: 3000000")
    assert _findings('Value="medium_high"') and _findings('"total_cells": 4.5e+06')
    assert _findings("<dd>3 × 10⁶ cells/kg</dd>")
    page = '<!doctype html><td class="masked" data-testid="arm">{}</td><dt>Dose</dt><dd>{}</dd>'
    assert not _findings(page.format("masked", '<span class="masked">masked</span>'))
    assert not _findings(page.format("—", '<span class="masked">masked</span>'))
    assert _findings(page.format("Arm B", '<span class="masked">masked</span>'))
    assert _findings(page.format("masked", "2 × 10⁸"))
    assert not _findings('{"arm":"masked","other":{"arm":null},"note":"below","hash":"ab1000000cd"}')
