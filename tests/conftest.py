"""Shared fixtures: a controllable clock, real SQLite and PostgreSQL stores, users with keys.

PostgreSQL comes from TRIAL_LEDGER_TEST_PG (default postgresql://postgres@127.0.0.1:5432/test);
each test gets its own schema and drops it. Where PostgreSQL is unreachable its tests skip with
the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from api.client.sdk import LedgerClient
from api.http.app import create_app
from api.services.bootstrap import Initialised, Services, bootstrap, initialise, register_user, root_signer
from ledger.keys import generate, public_b64
from ledger.signer import Signer

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PG_URL = os.environ.get("TRIAL_LEDGER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
ROOT_PASS, LEDGER_PASS = "root-passphrase-1", "ledger-passphrase-1"


# The fast loop (`pytest -m "not slow"`) leaves out what needs PostgreSQL, a browser, a subprocess
# server, a full demo trial or thousands of generated cases; `pytest` alone still runs everything.
SLOW_MODULES = {
    "test_masking_scan", "test_simulation", "test_ui_browser", "test_docs_browser", "test_verify_workers",
    "test_openapi_fuzz", "test_concurrency_pg", "test_crash_safety", "test_benchmarks_smoke",
    "test_bench_smoke", "test_bundle_restore", "test_export_memory", "test_view_runners_killed",
    "test_odm", "test_casebook", "test_certified_copy", "test_keys_at_rest", "test_cli_serve",
    "test_cli_database", "test_cli_bench",
    # whole documents and bundles built from a trial: exports, verify-bundle, tiles, pages
    "test_clinical_exports", "test_safety_records_exports", "test_verify_findings", "test_tiles",
    "test_verify_bundle_safety", "test_ui_flow", "test_ui_safety",
}
# A module-scoped demo trial takes seconds to simulate: its tests belong to the full run.
SLOW_FIXTURES = {"pg_url", "demo", "audited"}
SLOW_TESTS = {
    "test_canonical.py::test_fast_encoder_equals_rfc8785",
    "test_canonical.py::test_parse_canonical_decides_as_the_strict_parser",
    "test_canonical.py::test_every_finite_double_is_written_as_es6_does",
    "test_trial_domain.py::test_r25_concurrent_requests_take_distinct_slots_in_list_order",
    "test_trial_domain.py::test_r27_blinded_roles_never_see_arm_dose_or_total_cells",
    "test_trial_domain.py::test_r24_no_investigator_response_predicts_the_next_assignment",
    "test_trial_domain.py::test_r26_allocation_verify_after_the_reveal",
    "test_hostile_input.py::test_damaged_bundles_get_one_readable_line_never_a_traceback",
    "test_roles.py::test_r19_r39_every_route_and_every_role_against_the_matrix",
    "test_house.py::test_mypy_is_clean_on_every_package",
    "test_views.py::test_a_rebuild_shared_between_processes_equals_a_single_fold",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.path.stem
        name = f"{item.path.name}::{item.originalname if isinstance(item, pytest.Function) else item.name}"
        callspec = getattr(item, "callspec", None)
        heavy = not SLOW_FIXTURES.isdisjoint(getattr(item, "fixturenames", ())) or (
            callspec is not None and callspec.params.get("db_url") == "postgres")
        if module in SLOW_MODULES or name in SLOW_TESTS or heavy:
            item.add_marker(pytest.mark.slow)


class Clock:
    """A clock the test moves; it may even step back, as a real one can."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now

    def step(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def _pg_reachable() -> str | None:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


_PG_PROBLEM = _pg_reachable()


@pytest.fixture
def pg_url() -> Iterator[str]:
    if _PG_PROBLEM is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL unreachable at {PG_URL} under CI: {_PG_PROBLEM}")
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}: {_PG_PROBLEM}")
    schema = "tl_test_" + uuid.uuid4().hex[:12]
    yield f"{PG_URL}?schema={schema}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@dataclass
class Trial:
    """An initialised ledger with its services, app and helpers to add users."""

    services: Services
    info: Initialised
    home: Path
    clock: Clock
    http: TestClient

    def user(self, author: str, *, role: str = "investigator", site: str = "site-01",
             name: str | None = None) -> tuple[Signer, str]:
        key = generate()
        _, token = register_user(self.services, root_signer(self.home, ROOT_PASS), author=author,
                                 name=name or author.title(), role=role, site=site,
                                 public_key_b64=public_b64(key.public_key()))
        return Signer(key, author, role, site, "pytest/1"), token

    def register_directly(self, signer: Signer, pid: str, *, consent: bool = False,
                          at: datetime | None = None) -> None:
        """Register (and consent) a participant straight through the ledger, past the API, so
        that no request catches the views up."""
        ledger, stream = self.services.ledger, f"participant/{pid}"
        entries = [("participant.registered", {"participant_id": pid, "site": "site-01", "sex": "F",
                                               "date_of_birth": "1961-04-02", "weight_kg": 64})]
        if consent:
            entries.append(("consent.signed", {"form_version": "1.0", "signed_on": "2026-03-01"}))
        for kind, payload in entries:
            ledger.append(signer.sign(ledger=self.info.origin, head=ledger.head(stream), type=kind,
                                      occurred_at=at or self.clock.now, payload=payload))

    def client(self, author: str = "inv-001", **kw: str) -> LedgerClient:
        signer, token = self.user(author, **kw)
        return LedgerClient(signer=signer, token=token, http=self.new_http())

    def new_http(self) -> TestClient:
        return TestClient(create_app(self.services))


def make_trial(url: str, home: Path, clock: Clock | None = None) -> Trial:
    clock = clock or Clock()
    services = bootstrap(url, clock=clock)
    info = initialise(services, home=home, root_passphrase=ROOT_PASS, ledger_passphrase=LEDGER_PASS)
    return Trial(services, info, home, clock, TestClient(create_app(services)))


@pytest.fixture
def trial(db_url: str, tmp_path: Path) -> Iterator[Trial]:
    t = make_trial(db_url, tmp_path / "home")
    yield t
    t.services.close()


@pytest.fixture
def sqlite_trial(sqlite_url: str, tmp_path: Path) -> Iterator[Trial]:
    t = make_trial(sqlite_url, tmp_path / "home")
    yield t
    t.services.close()


@dataclass
class DemoTrial:
    """The simulated trial (api/demo/simulation.py) in SQLite, with API tokens for its staff and for
    an inspector and an unblinded statistician added afterwards."""

    services: Services
    home: Path
    url: str
    tokens: dict[str, str]


def make_demo(folder: Path, participants: int = 6, seed: int = 1) -> DemoTrial:
    from api.demo.loader import run_demo
    from api.demo.simulation import PASSPHRASE

    url = f"sqlite:///{folder / 'demo.db'}"
    services = bootstrap(url)
    home = folder / "home"
    lines = run_demo(services, home, participants=participants, seed=seed)
    tokens = {line.split()[0]: line.rsplit(" ", 1)[1] for line in lines if "API token:" in line}
    root = root_signer(home, PASSPHRASE)
    for author, name, role, site in (("insp-01", "Ines Moreau", "inspector", "regulator"),
                                     ("stat-01", "Kofi Mensah", "unblinded_statistician", "sponsor")):
        _, tokens[author] = register_user(services, root, author=author, name=name, role=role,
                                          site=site, public_key_b64=public_b64(generate().public_key()))
    services.views.catch_up()
    return DemoTrial(services, home, url, tokens)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoTrial]:
    """A small demo trial (6 participants: a screen failure, a correction, sign-offs), shared by
    the tests of one module; tests must not write to it."""
    d = make_demo(tmp_path_factory.mktemp("demo"))
    yield d
    d.services.close()
