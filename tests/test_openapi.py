"""No route or parameter of the API accepts a private key."""

from __future__ import annotations

import re
from typing import Any

from .conftest import Trial

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
