"""The house rules of DESIGN.md: arrows one way, a pure domain, lint and types clean."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "domain": {"ledger", "projections", "api", "eventsourcing", "fastapi", "starlette", "sqlite3",
               "psycopg", "httpx", "requests", "typer", "rich", "uvicorn", "os", "socket"},
    "ledger": {"domain", "projections", "api", "fastapi", "typer", "starlette"},
    "projections": {"api", "fastapi", "typer", "starlette"},
}


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_import_directions_follow_the_design(room: str) -> None:
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {module}"
             for path in sorted((ROOT / room).rglob("*.py"))
             for line, module in _imports(path)
             if module.split(".")[0] in FORBIDDEN[room]]
    assert wrong == []


def test_domain_never_reads_the_clock() -> None:
    clock = re.compile(r"(datetime\.now|datetime\.utcnow|time\.time|date\.today)\(")
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "domain").rglob("*.py")
                 if clock.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", str(ROOT)], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean_on_every_package() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", "ledger", "domain", "projections", "api"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_nothing_reads_outside_the_checkout() -> None:
    """Fixtures live in tests/data/: no test, script, benchmark or default reaches past the
    repository's root (a folder beside the checkout, a parent's parent of a test file)."""
    # The forbidden names are put together here, so that this file does not name them itself.
    folder, setting = "sha" + "red", "TRIAL_LEDGER_" + "SHA" + "RED"
    outside = re.compile(rf"\.\./{folder}|{setting}|parents\[[2-9]\]|\.parent\.parent\.parent")
    offenders = [f"{path.relative_to(ROOT)}:{n}"
                 for room in ("ledger", "domain", "projections", "api", "tests", "benchmarks", "scripts")
                 for path in sorted((ROOT / room).rglob("*.py"))
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if outside.search(line)]
    assert offenders == []
    assert (ROOT / "tests" / "data" / "README.md").is_file()


def test_routes_reach_the_domain_only_through_the_services() -> None:
    """api/http/ parses, calls a service and maps its answer: no module of it imports domain/;
    and api/ keeps no modules at its top level, only its rooms."""
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {module}"
             for path in sorted((ROOT / "api" / "http").rglob("*.py"))
             for line, module in _imports(path) if module.split(".")[0] == "domain"]
    assert wrong == []
    # nor read the views themselves: only problems.py names projections' errors, to map them
    reading = [f"{path.relative_to(ROOT)}:{line} imports {module}"
               for path in sorted((ROOT / "api" / "http").rglob("*.py")) if path.name != "problems.py"
               for line, module in _imports(path) if module.split(".")[0] == "projections"]
    assert reading == []
    top = sorted(p.name for p in (ROOT / "api").glob("*.py"))
    assert set(top) <= {"__init__.py", "__main__.py"}, top
