"""The command line's own house rules: api/cli/main.py builds the command tree from the modules
that define the commands, so no module imports another for what importing it registers, the
modules import one another in one direction only, and every command stays where users and
scripts find it."""

from __future__ import annotations

import ast
from pathlib import Path

from typer.main import get_command
from typer.testing import CliRunner

from api.cli.main import app

CLI = Path(__file__).resolve().parents[1] / "api" / "cli"
PACKAGE = "api.cli"

# The public contract, in the order `--help` lists it: a command renamed, dropped or left
# unregistered fails here, as does one added without being listed.
TOP_LEVEL = ["init", "verify", "verify-bundle", "import", "witness", "bench", "verify-copy", "serve",
             "setup", "demo", "rebuild", "users", "keys", "export", "allocation"]
GROUPS = {
    "users": ["add", "revoke", "history", "list", "unlock", "token"],
    "keys": ["new", "rotate", "revoke"],
    "export": ["bundle", "audit", "odm", "casebook", "certified-copy"],
    "allocation": ["reveal", "verify"],
}


def _modules() -> dict[str, ast.Module]:
    return {f"{PACKAGE}.{p.stem}" if p.stem != "__init__" else PACKAGE:
            ast.parse(p.read_text(encoding="utf-8"), filename=str(p))
            for p in sorted(CLI.glob("*.py"))}


def _cli_imports(node: ast.Import | ast.ImportFrom, modules: set[str]) -> set[str]:
    """The api.cli modules an import statement loads (`from api.cli import audit` loads
    api.cli.audit; `from api.cli.common import out` loads api.cli.common)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in modules}
    assert node.level == 0, "imports are absolute"
    found = {node.module} if node.module in modules else set()
    return found | {f"{node.module}.{a.name}" for a in node.names} & modules


def _graph() -> dict[str, set[str]]:
    trees = _modules()
    names = set(trees) - {PACKAGE}
    return {name: {m for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
                   for m in _cli_imports(node, names)} - {name}
            for name, tree in trees.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each circle of imports found by a depth-first walk, as the path that closes it."""
    found: list[list[str]] = []
    done: set[str] = set()
    path: list[str] = []

    def visit(name: str) -> None:
        path.append(name)
        for target in sorted(graph.get(name, ())):
            if target in path:
                found.append([*path[path.index(target):], target])
            elif target not in done:
                visit(target)
        path.pop()
        done.add(name)

    for name in sorted(graph):
        if name not in done:
            visit(name)
    return found


def _late_imports(name: str, tree: ast.Module, modules: set[str]) -> list[str]:
    """Module-level imports after the module's code began (an import placed there for what it
    does when run, such as registering commands), and api.cli modules imported inside code,
    where a circle between modules would hide."""
    late: list[str] = []
    started = False
    for i, stmt in enumerate(tree.body):
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            if started:
                late.append(f"{name}:{stmt.lineno} imports after the module's code began")
        elif not (i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
            started = True  # anything but the docstring
    top = {id(stmt) for stmt in tree.body}
    late += [f"{name}:{node.lineno} imports {sorted(_cli_imports(node, modules))} inside code"
             for node in ast.walk(tree)
             if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top
             and _cli_imports(node, modules)]
    return late


def _unused_cli_imports(name: str, tree: ast.Module) -> list[str]:
    """Names imported from api.cli and never used: imported for a side effect."""
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    unused: list[str] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and (stmt.module or "").startswith(PACKAGE):
            unused += [f"{name}: {stmt.module}.{a.name}" for a in stmt.names
                       if (a.asname or a.name) not in used]
        elif isinstance(stmt, ast.Import):
            unused += [f"{name}: {a.name}" for a in stmt.names
                       if a.name.startswith(PACKAGE) and (a.asname or a.name.split(".")[0]) not in used]
    return unused


def test_cli_modules_import_one_another_in_one_direction() -> None:
    assert _cycles(_graph()) == []


def test_shared_helpers_import_no_command_module() -> None:
    graph = _graph()
    assert graph[f"{PACKAGE}.common"] == set()
    assert graph[f"{PACKAGE}.help"] == set()
    assert graph[PACKAGE] == set()
    # only main.py puts the tree together, and nothing imports it back
    assert [name for name, targets in graph.items() if f"{PACKAGE}.main" in targets] == []


def test_imports_are_at_the_top_and_used() -> None:
    trees = _modules()
    modules = set(trees) - {PACKAGE}
    assert [line for name, tree in trees.items() for line in _late_imports(name, tree, modules)] == []
    assert [line for name, tree in trees.items() for line in _unused_cli_imports(name, tree)] == []


def test_the_checks_find_what_they_look_for() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []
    modules = {f"{PACKAGE}.audit", f"{PACKAGE}.common"}
    tree = ast.parse('"""Doc."""\nimport os\n\nx = os.sep\nfrom api.cli import audit  # noqa\n\n\n'
                     'def f() -> None:\n    from api.cli.common import out\n    out.print()\n')
    assert _late_imports("m", tree, modules) == ["m:5 imports after the module's code began",
                                                 "m:9 imports ['api.cli.common'] inside code"]
    assert _unused_cli_imports("m", tree) == ["m: api.cli.audit"]


def _http_imports(name: str, tree: ast.Module) -> list[str]:
    """Imports of api.http anywhere in a module, at its top or inside a function."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        else:
            continue
        if any(m == "api.http" or m.startswith("api.http.") for m in modules):
            found.append(f"{name}:{node.lineno}")
    return found


def test_commands_call_the_services_not_the_routes() -> None:
    """The CLI reaches the ledger through api/services/ as HTTP does, so each rule holds on
    both; a command that borrowed a route's code would skip what the route's service checks.
    `serve` alone builds the HTTP app, to run it."""
    found = [line for name, tree in _modules().items() for line in _http_imports(name, tree)]
    serving = [line for line in found if line.startswith(f"{PACKAGE}.serve:")]
    assert found == serving
    source = (CLI / "serve.py").read_text(encoding="utf-8").splitlines()
    assert [source[int(line.split(":")[1]) - 1].strip() for line in serving] == [
        "from api.http.app import create_app"]
    tree = ast.parse("from api import http\n\ndef f() -> None:\n    import api.http.app\n"
                     "    from api.services import keys\n")
    assert _http_imports("m", tree) == ["m:1", "m:4"]


def test_every_command_is_registered() -> None:
    root = get_command(app)
    listed = root.list_commands(None)  # type: ignore[attr-defined]
    assert listed == TOP_LEVEL
    assert {name: root.get_command(None, name).list_commands(None)  # type: ignore[attr-defined]
            for name in GROUPS} == GROUPS


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(app, ["--help"], prog_name="trial-ledger", env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    shown = [line.split()[1] for line in result.stdout.splitlines()
             if line.startswith("│ ") and len(line.split()) > 1 and not line.split()[1].startswith("-")
             and line[2] != " "]
    assert shown == TOP_LEVEL
    for group, commands in GROUPS.items():
        result = CliRunner().invoke(app, [group, "--help"], prog_name="trial-ledger",
                                    env={"COLUMNS": "100"})
        assert result.exit_code == 0, result.output
        shown = [line.split()[1] for line in result.stdout.splitlines()
                 if line.startswith("│ ") and line[2] != " " and not line.split()[1].startswith("-")]
        assert shown == commands, group
