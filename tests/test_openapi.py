"""The OpenAPI document as a contract: no route or parameter accepts a private key; the bearer
scheme, a model for every answer and every problem answer are declared; an unknown query
parameter is refused; `GET /v1/audit` filters as the audit export does."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.exports.audit import COLUMNS
from api.http.app import create_app
from api.services import roles

from .conftest import DemoTrial, Trial, make_demo, make_trial

ANY_TEXT = type("AnyText", (), {"__eq__": lambda self, other: isinstance(other, str) and bool(other)})()
SECRET = re.compile(r"private|secret|passphrase|password|pkcs8|seed", re.IGNORECASE)


def _names(schema: Any, spec: dict[str, Any], seen: set[str]) -> set[str]:
    """Every property name reachable from a schema, following $refs."""
    names: set[str] = set()
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            seen.add(ref)
            target: Any = spec
            for part in ref.removeprefix("#/").split("/"):
                target = target[part]
            names |= _names(target, spec, seen)
        for name, sub in schema.get("properties", {}).items():
            names.add(name)
            names |= _names(sub, spec, seen)
        for value in schema.values():
            if isinstance(value, (dict, list)):
                names |= _names(value, spec, seen)
    elif isinstance(schema, list):
        for item in schema:
            names |= _names(item, spec, seen)
    return names


def test_no_route_accepts_a_private_key(sqlite_trial: Trial) -> None:
    spec = sqlite_trial.http.get("/openapi.json").json()
    inputs: set[str] = set()
    for path, operations in spec["paths"].items():
        inputs |= set(re.findall(r"{([^}:]+)", path))
        for operation in operations.values():
            inputs |= {p["name"] for p in operation.get("parameters", [])}
            inputs |= _names(operation.get("requestBody", {}), spec, set())
    assert inputs, "the spec lists no inputs at all"
    assert "entry" in inputs and "signature" in inputs
    assert [n for n in inputs if SECRET.search(n)] == []


def test_a_private_key_field_is_refused(sqlite_trial: Trial) -> None:
    _, token = sqlite_trial.user("inv-001")
    response = sqlite_trial.http.post(
        "/v1/entries", headers={"Authorization": f"Bearer {token}"},
        json={"entry": "{}", "signature": "", "payload": "{}", "salt": "", "private_key": "x"})
    assert response.status_code == 422
    assert response.json()["rule"] == "request.invalid"
    assert response.json()["field"] == "private_key"


# The document as a contract ---------------------------------------------------------------

PUBLIC = {("get", "/v1/health"), ("get", "/v1/entry-types"), ("get", "/v1/checkpoint"),
          ("get", "/v1/proofs/inclusion"), ("get", "/v1/proofs/consistency"), ("post", "/v1/sessions")}
FILES = {"text/plain", "text/csv", "application/x-ndjson", "application/xml", "application/pdf",
         "application/zip"}


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, operation) for path, operations in spec["paths"].items()
            for method, operation in operations.items()]


def _component(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    assert set(schema) == {"$ref"}, f"an inline schema, not a model: {schema}"
    resolved: dict[str, Any] = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return resolved


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    trial = make_trial(f"sqlite:///{tmp_path_factory.mktemp('spec') / 'l.db'}",
                       tmp_path_factory.mktemp("home"))
    yield trial.http.get("/openapi.json").json()
    trial.services.close()


def test_the_bearer_scheme_is_declared_and_only_routes_that_need_a_token_claim_it(
        spec: dict[str, Any]) -> None:
    assert spec["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http", "scheme": "bearer", "description": ANY_TEXT}
    operations = _operations(spec)
    assert len(operations) == len(roles.MATRIX)
    for method, path, operation in operations:
        headers = [p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"]
        assert "authorization" not in headers, (method, path)
        if (method, path) in PUBLIC:
            assert "security" not in operation, (method, path)
        else:
            assert operation["security"] == [{"HTTPBearer": []}], (method, path)


def test_every_answer_has_a_model_or_a_declared_media_type(spec: dict[str, Any]) -> None:
    for method, path, operation in _operations(spec):
        ok = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
        assert len(ok) == 1, (method, path, list(ok))
        content = next(iter(ok.values()))["content"]
        for media, body in content.items():
            if media == "application/json":
                model = _component(spec, body["schema"])
                assert model["type"] == "object" and model["properties"], (method, path)
                assert model["required"], (method, path)
            else:
                assert media in FILES and body["schema"]["type"] == "string", (method, path, media)
    proof = spec["components"]["schemas"]["InclusionProof"]
    assert set(proof["required"]) == {"leaf_index", "tree_size", "proof"}
    assert proof["properties"]["proof"]["items"] == {"type": "string"}
    assert set(spec["components"]["schemas"]["ConsistencyProof"]["required"]) == {"first", "second",
                                                                                   "proof"}
    record = spec["paths"]["/v1/records/{record_hash}"]["get"]["responses"]["200"]
    assert record["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RecordOut"}
    checkpoint = spec["paths"]["/v1/checkpoint"]["get"]["responses"]["200"]["content"]
    assert list(checkpoint) == ["text/plain"]


def test_every_problem_answer_is_declared_as_problem_json(spec: dict[str, Any]) -> None:
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "rule"} <= set(problem["required"])
    assert {"field", "errors"} <= set(problem["properties"])
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for method, path, operation in _operations(spec):
        answers = operation["responses"]
        failures = {s: r for s, r in answers.items() if s.startswith(("4", "5"))}
        for status, answer in failures.items():
            assert answer["content"] == {"application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"}}}, (method, path, status)
        assert "422" in failures, (method, path)  # any route refuses an unknown query parameter
        refused_login = (method, path) == ("post", "/v1/sessions")
        assert ("401" in failures) == ((method, path) not in PUBLIC or refused_login), (method, path)
        assert ("413" in failures) == ("requestBody" in operation), (method, path)
    declared = {(m, p): set(o["responses"]) for m, p, o in _operations(spec)}
    assert {"403", "409"} <= declared[("post", "/v1/entries")]
    assert {"403", "404"} <= declared[("get", "/v1/participants/{participant_id}")]
    assert "403" in declared[("get", "/v1/allocation")]  # the role matrix shuts out blinded roles
    assert "403" not in declared[("post", "/v1/sessions/close")]  # every user may log out
    assert {"401", "409"} <= declared[("post", "/v1/sessions")]


def test_a_wrong_method_is_405_problem_json_with_allow(sqlite_trial: Trial) -> None:
    for method, path, allowed in (("DELETE", "/v1/health", "GET"), ("POST", "/v1/audit", "GET"),
                                  ("GET", "/v1/entries", "POST")):
        answer = sqlite_trial.http.request(method, path)
        assert answer.status_code == 405, path
        assert answer.headers["content-type"] == "application/problem+json"
        assert allowed in answer.headers["allow"]
        assert answer.json()["rule"] == "http.405"


@pytest.mark.parametrize(("method", "path", "unknown"), [
    ("GET", "/v1/audit?participant_id=P-001", "participant_id"),
    ("GET", "/v1/audit?limit=5&user=inv-01", "user"),
    ("GET", "/v1/health?verbose=1", "verbose"),
    ("GET", "/v1/checkpoint?size=3", "size"),
    ("GET", "/v1/participants?sort=site", "sort"),
    ("GET", "/v1/export/audit?format=csv&from=2024-01-01", "from"),
    ("POST", "/v1/entries?dry_run=true", "dry_run"),
])
def test_an_unknown_query_parameter_is_refused_naming_it(sqlite_trial: Trial, method: str, path: str,
                                                         unknown: str) -> None:
    _, token = sqlite_trial.user("adm-001", role="admin", site="sponsor")
    answer = sqlite_trial.http.request(method, path, headers={"Authorization": f"Bearer {token}"},
                                       json={"entry": "{}", "signature": "", "payload": "{}", "salt": ""})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert (body["rule"], body["field"]) == ("request.invalid", f"query.{unknown}")
    assert "unknown query parameter" in body["detail"]


def test_the_viewer_keeps_its_own_query_parameters(sqlite_trial: Trial) -> None:
    page = sqlite_trial.http.get("/ui/login?next=/ui/audit&utm=x")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


# GET /v1/audit takes the export's filters ----------------------------------------------------

@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoTrial]:
    d = make_demo(tmp_path_factory.mktemp("audited"))
    yield d
    d.services.close()


def _audit(demo: DemoTrial, who: str, **filters: str) -> list[dict[str, Any]]:
    http = TestClient(create_app(demo.services))
    answer = http.get("/v1/audit", params={"limit": 1000, **filters},
                      headers={"Authorization": f"Bearer {demo.tokens[who]}"})
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["rows"]
    return rows


def _export(demo: DemoTrial, who: str, **filters: str) -> list[dict[str, Any]]:
    http = TestClient(create_app(demo.services))
    answer = http.get("/v1/export/audit", params={"format": "jsonl", **filters},
                      headers={"Authorization": f"Bearer {demo.tokens[who]}"})
    assert answer.status_code == 200, answer.text
    return [json.loads(line) for line in answer.text.splitlines()]


@pytest.mark.parametrize("who", ["insp-01", "mon-01"])
@pytest.mark.parametrize("filters", [
    {"participant": "P-002"}, {"author": "inv-01"}, {"type": "lab.resulted"}, {"site": "site-02"},
    {"since": "2024-07-01T00:00:00Z", "until": "2024-08-01T00:00:00Z"},
    {"participant": "P-003", "type": "visit.completed", "since": "2024-06-15"},
], ids=["participant", "author", "type", "site", "time", "combined"])
def test_audit_filters_narrow_as_the_export_does(audited: DemoTrial, who: str,
                                                 filters: dict[str, str]) -> None:
    everything = _audit(audited, who)
    rows = _audit(audited, who, **filters)
    assert 0 < len(rows) < len(everything)
    assert [{c: r.get(c) for c in COLUMNS} for r in rows] == _export(audited, who, **filters)
    for row in rows:
        assert "participant" not in filters or row["stream"] == f"participant/{filters['participant']}"
        assert "author" not in filters or row["author"] == filters["author"]
        assert "type" not in filters or row["type"] == filters["type"]
        assert "site" not in filters or row["site"] == filters["site"]
        assert filters.get("since", "") <= row["recorded_at"] <= filters.get("until", "9")
    left_out = [r for r in everything if r["record_hash"] not in {x["record_hash"] for x in rows}]
    assert left_out and len(left_out) + len(rows) == len(everything)


def test_audit_filters_page_and_cut_together(audited: DemoTrial) -> None:
    rows = _audit(audited, "insp-01", site="site-01")
    assert _audit(audited, "insp-01", site="site-01", offset="3", limit="4") == rows[3:7]
    cut_at = rows[10]["recorded_at"]
    assert _audit(audited, "insp-01", site="site-01", as_of=cut_at) == \
        [r for r in rows if r["recorded_at"] <= cut_at]
    assert _audit(audited, "insp-01", site="site-01", as_of=f"checkpoint:{rows[5]['leaf_index'] + 1}") \
        == rows[:6]


def test_site_staff_filtering_another_site_get_nothing(audited: DemoTrial) -> None:
    mine = {r["stream"] for r in _audit(audited, "inv-01") if r["stream"].startswith("participant/")}
    theirs = {r["stream"] for r in _audit(audited, "insp-01", site="site-02")}
    assert mine and theirs and not mine & theirs
    assert _audit(audited, "inv-01", site="site-02") == []


def test_the_docs_pages_load_their_assets_from_this_server(sqlite_trial: Trial) -> None:
    for page, assets in (("/docs", 3), ("/redoc", 2)):
        html = sqlite_trial.http.get(page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        links = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", html.text) + \
            re.findall(r"""url:\s*["']([^"']+)""", html.text)
        assert len(links) >= assets, links
        assert [u for u in links if not u.startswith("/")] == [], page
        for link in links:
            answer = sqlite_trial.http.get(link)
            assert answer.status_code == 200 and len(answer.content) > 1000, link
    assert sqlite_trial.http.get("/docs-assets/swagger-ui.css").headers["content-type"].startswith("text/css")
    missing = sqlite_trial.http.get("/docs-assets/..%2Fcore.py")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
