"""Soak run of the crash-safety rounds (tests/test_crash_safety.py runs 20 in CI): as many rounds
and clients as asked, on SQLite or PostgreSQL, stopping at the first round whose log does not hold.

    .venv/bin/python scripts/soak.py --rounds 500 --clients 12
    .venv/bin/python scripts/soak.py --backend postgresql --rounds 200

PostgreSQL comes from TRIAL_LEDGER_TEST_PG (default postgresql://postgres@127.0.0.1:5432/test);
the run gets its own schema, dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.live_crash import CrashSummary, crash_rounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kill-after", type=float, nargs=2, default=(0.3, 1.5),
                        metavar=("MIN", "MAX"), help="seconds of traffic before each kill")
    parser.add_argument("--keep", action="store_true", help="keep the database and the server log")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="trial-ledger-soak-"))
    pg = os.environ.get("TRIAL_LEDGER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    schema = "tl_soak_" + uuid.uuid4().hex[:12]
    url = f"sqlite:///{folder / 'ledger.db'}" if args.backend == "sqlite" else f"{pg}?schema={schema}"

    def progress(n: int, summary: CrashSummary) -> None:
        print(f"round {n + 1}/{args.rounds}: {summary.line()}", flush=True)

    try:
        summary = crash_rounds(url, folder / "home", folder / "serve.log", backend=args.backend,
                               rounds=args.rounds, clients=args.clients, seed=args.seed,
                               kill_after=tuple(args.kill_after), on_round=progress)
    except AssertionError as exc:
        print(f"FAILED: {exc}\nserver log and database kept in {folder} ({url})", file=sys.stderr)
        return 1
    finally:
        if args.backend == "postgresql" and not args.keep:
            import psycopg

            with psycopg.connect(pg, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    print(summary.line())
    if args.keep:
        print(f"kept: {folder} ({url})")
    else:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
