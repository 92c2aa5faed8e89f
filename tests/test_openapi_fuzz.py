"""Schemathesis over the OpenAPI document: generated requests on every operation, as an admin, a
blinded monitor and an investigator (site staff); no server error, and every answer as documented:
its status declared, its media type declared, its body in its schema, its headers as stated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.http.app import create_app

from .conftest import Trial, make_trial
from .test_labs import WEEK_4, treated

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]


@pytest.fixture(params=[("adm-001", "admin", "sponsor"), ("mon-009", "monitor", "site-01"),
                        ("inv-009", "investigator", "site-01")],
                ids=["admin", "blinded-monitor", "investigator"])
def fuzzed(request: pytest.FixtureRequest, sqlite_url: str,
           tmp_path: Path) -> Iterator[tuple[Trial, str]]:
    trial = make_trial(sqlite_url, tmp_path / "home")
    client, monitor = treated(trial)
    first = client.record_lab("P-001", visit="week_4", analyte="ALT", value=560.0, unit="U/L",
                              sampled_at=WEEK_4)
    monitor.open_query("P-001", record=first["record_hash"], field="value", text="check")
    author, role, site = request.param
    _, token = trial.user(author, role=role, site=site)
    yield trial, token
    trial.services.close()


LOGIN, LOGOUT = "POST /v1/sessions", "POST /v1/sessions/close"


def test_no_operation_errs_or_breaks_its_schema(fuzzed: tuple[Trial, str]) -> None:
    trial, token = fuzzed
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(trial.services))
    # Logout and logins last: a logout ends the caller's token, and junk logins that name the
    # caller count as failed ones and lock the account.
    operations = sorted((result.ok() for result in schema.get_all_operations()),
                        key=lambda operation: operation.label in (LOGOUT, LOGIN))
    documented = {f"{method.upper()} {path}"
                  for path, item in create_app(trial.services).openapi()["paths"].items() for method in item}
    assert {operation.label for operation in operations} == documented  # every route is fuzzed
    answers: dict[str, set[int]] = {}
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def generated(case: Any) -> None:
            response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
            answers.setdefault(case.operation.label, set()).add(response.status_code)

        generated()
    assert set(answers) == documented
    # The token was honoured everywhere (no route answered only 401), and the generated requests
    # got past validation to a real answer on most routes, not only 422s.
    assert not [label for label, statuses in answers.items()
                if statuses == {401} and label not in (LOGOUT, LOGIN)]
    reached = [label for label, statuses in answers.items() if statuses & {200, 201, 403, 404, 409}]
    assert len(reached) >= len(documented) * 2 // 3, sorted(set(documented) - set(reached))


def test_stateful_sequences_neither_err_nor_break_their_schema(fuzzed: tuple[Trial, str]) -> None:
    """Sequences of calls chained through the links schemathesis finds (a participant listed, then
    read, its history, scores and casebook): no step errs or breaks its documented schema."""
    trial, token = fuzzed
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(trial.services))
    machine = schema.as_state_machine()
    assert machine.bundles, "schemathesis found no links to chain"

    calls: list[str] = []

    class Workflow(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            calls.append(case.operation.label)
            return {"headers": {"Authorization": f"Bearer {token}"}}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    Workflow.run(settings=settings(max_examples=25, stateful_step_count=6, deadline=None,
                                   suppress_health_check=list(HealthCheck), database=None))
    assert len(calls) > 25 and any("{participant_id}" in c for c in calls)
