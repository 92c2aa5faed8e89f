"""A demo made without a seed cannot be rebuilt by anyone: fresh keys (a different root fingerprint
each time) and a passphrase that is not the published one, printed once. A seeded demo stays the
reproducible one, and says that anyone with its seed holds its keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.main import app
from api.demo.simulation import PASSPHRASE
from api.services.bootstrap import root_signer

SEED_1_ROOT = "8f6a496224c0df0c1950367c2acf4c286277ccd541983f3ec5eb96c005221dff"


def _demo(folder: Path, *extra: str) -> str:
    folder.mkdir()
    done = CliRunner().invoke(app, ["demo", "--db", f"sqlite:///{folder / 'demo.db'}", "--home",
                                    str(folder / "home"), "--participants", "1", *extra])
    assert done.exit_code == 0, done.stdout + done.stderr
    return " ".join(done.stdout.split())


def _root(said: str) -> str:
    return said.split("root fingerprint", 1)[1].split()[0]


def test_two_demos_without_a_seed_have_different_keys_and_no_published_passphrase(
        tmp_path: Path) -> None:
    first, second = _demo(tmp_path / "a"), _demo(tmp_path / "b")
    assert _root(first) != _root(second)
    assert SEED_1_ROOT not in (_root(first), _root(second))
    with pytest.raises(Exception):  # noqa: B017 - whichever way a wrong passphrase is refused
        root_signer(tmp_path / "a" / "home", PASSPHRASE)
    printed = first.split("shown only now:", 1)[1].split()[0]
    assert printed != PASSPHRASE and printed not in second
    root_signer(tmp_path / "a" / "home", printed)  # the printed passphrase opens the root key


def test_a_seeded_demo_is_the_reproducible_one_and_says_so(tmp_path: Path) -> None:
    said = _demo(tmp_path / "s", "--seed", "1")
    assert _root(said) == SEED_1_ROOT
    assert "anyone who knows seed 1 can rebuild every key" in said
    root_signer(tmp_path / "s" / "home", PASSPHRASE)
