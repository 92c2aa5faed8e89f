"""The command line: python tools/verify_min BUNDLE --root FINGERPRINT [--json]."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from bundle import read_bundle
from checkpoints import check_checkpoints
from common import HEX64, Report
from replay import Replay


def verify(path: str, root_fp: str) -> dict[str, Any]:
    report = Report()
    out: dict[str, Any] = {"ok": False, "records": 0, "tree_size": 0, "root": None}
    bundle = read_bundle(path, report)
    if bundle is not None:
        replay = Replay(report, bundle.origin, root_fp, bundle.lines)
        if not bundle.lines:
            report.add("log.empty", "the bundle holds no readable record")
        else:
            replay.run()
        size = len(bundle.lines)
        root = check_checkpoints(report, replay, bundle.checkpoints, size)
        out.update(records=size, tree_size=size, root=root)
    out["ok"] = not report.findings
    out["findings"] = report.findings
    return out


def human(result: dict[str, Any]) -> str:
    head = "OK" if result["ok"] else f"FAILED: {len(result['findings'])} finding(s)"
    lines = [f"{head}. {result['records']} records, tree size {result['tree_size']}, "
             f"root {result['root'] or '(not recomputable)'}"]
    for f in result["findings"]:
        where = ", ".join(f"{k} {f[k]}" for k in ("leaf_index", "line", "stream", "version")
                          if f[k] is not None)
        lines.append(f"  {f['check']}{' (' + where + ')' if where else ''}: {f['detail']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="verify_min", description="Verify a trial-ledger audit "
                                     "bundle from docs/formats.md alone.")
    parser.add_argument("bundle", help="the bundle file")
    parser.add_argument("--root", required=True, help="the trial root key fingerprint (64 hex)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 2
    if not HEX64.fullmatch(args.root):
        print("verify_min: --root must be 64 lowercase hex digits", file=sys.stderr)
        return 2
    result = verify(args.bundle, args.root)
    print(json.dumps(result, indent=2) if args.json else human(result))
    return 0 if result["ok"] else 1
