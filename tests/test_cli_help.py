"""Every command's --help at a normal terminal width: paragraphs wrap to the width (no line
broken early where the next word would have fitted), and options name their values instead of
showing type tags such as `<bool>` or `<str>`."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from api.cli.main import app

WIDTH = 100
TYPE_TAG = re.compile(r"<(bool|str|int|float|path|list\[[^]]*\])>")


def command_paths() -> list[list[str]]:
    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        paths.append(path)
        if hasattr(command, "list_commands"):
            for name in command.list_commands(None):  # type: ignore[attr-defined]
                walk(command.get_command(None, name), [*path, name])  # type: ignore[attr-defined]

    walk(get_command(app), [])
    return paths


def early_breaks(text: str, width: int = WIDTH) -> list[str]:
    """Lines that end where the next line's first word would still have fitted: a paragraph
    broken by the source's line breaks rather than by the terminal's width."""
    found = []
    for a, b in pairwise(text.splitlines()):
        if not b.strip() or not a.strip() or a.lstrip().startswith("Usage:"):
            continue
        if a.startswith("│") and b.startswith("│"):  # a cell of a panel's table
            a, b = a[1:-1], b[1:-1]
            room = len(a) - 1  # one column of padding before the border
            k = len(b) - len(b.lstrip())
            # a row starts at 1 (or at 4 beside the `*` of required ones); B goes on with A's
            # text when it starts further in, where A's own text column starts
            continues = k > 4 and a[k - 1:k] == " " and a[k:k + 1] not in ("", " ")
            if not continues or b.lstrip().startswith("["):  # [default: …], [required]: apart
                continue
        elif a[:1] == " " and b[:1] == " ":  # the description above the panels
            room = width - 1
        else:
            continue
        if len(a.rstrip()) + 1 + len(b.split()[0]) <= room:
            found.append(f"{a.strip()!r} / {b.strip()!r}")
    return found


def test_every_command_is_checked() -> None:
    names = {" ".join(p) for p in command_paths()}
    assert {"", "verify", "serve", "users list", "users unlock", "users token", "export audit",
            "allocation verify"} <= names


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "trial-ledger")
def test_help_wraps_paragraphs_and_names_values(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="trial-ledger",
                                env={"COLUMNS": str(WIDTH)})
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.count("Usage: trial-ledger") == 1
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    assert early_breaks(text) == []
    options = [line for line in text.splitlines() if re.match(r"│ [ *]*--", line)]
    assert options and not [line for line in options if TYPE_TAG.search(line)]
    assert not TYPE_TAG.search(text), "an argument or option shows a type tag"


def test_the_check_finds_a_paragraph_broken_early() -> None:
    broken = (" Check a copy: the ledger key's signature on its manifest, each" + " " * 35 + "\n"
              " file's hash, and every record." + " " * 70 + "\n")
    assert len(early_breaks(broken)) == 1
    cell = ("│ token    Issue a new API token and print it once." + " " * 47 + "│\n"
            "│          Their other tokens keep working." + " " * 58 + "│\n")
    assert len(early_breaks(cell)) == 1
    assert early_breaks("│ --port   PORT   Port to listen on." + " " * 62 + "│\n"
                        "│                 [default: 8000]" + " " * 66 + "│\n") == []
