"""Profiles taken during a benchmark run (`suite.py --profile DIR`): py-spy samples each figure's
own process while it is measured, and every server or command the figure starts, each into
`DIR/<figure>-<what>.txt` (py-spy's raw format: one stack and its sample count per line).

`python benchmarks/profiling.py FILE [--only TEXT]` prints where the samples fall: the functions
of this project (and the libraries they call) with the share of samples whose stack holds them,
and the share each holds itself. The figures are slower while sampled: read the shares, not
the rates.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

RATE = "250"  # samples per second
_FOLDER: Path | None = None
_CURRENT = "suite"


def start(folder: Path | None) -> None:
    """Profile from now on into `folder` (None: no profiles)."""
    global _FOLDER
    if folder is not None:
        if shutil.which("py-spy") is None:
            raise SystemExit("--profile needs py-spy: pip install py-spy")
        folder.mkdir(parents=True, exist_ok=True)
    _FOLDER = folder


def _target(what: str) -> Path:
    assert _FOLDER is not None
    return _FOLDER / f"{_CURRENT}-{what}.txt"


def _record(*target: str, out: Path) -> list[str]:
    return ["py-spy", "record", "-r", RATE, "-f", "raw", "--nonblocking", "-o", str(out), *target]


def command(argv: list[str], what: str) -> list[str]:
    """`argv` run under py-spy when profiling (a server or a CLI command a figure starts)."""
    if _FOLDER is None:
        return argv
    return _record("--subprocesses", "--", *argv, out=_target(what))


def terminate(proc: subprocess.Popen[bytes]) -> None:
    """Ask a process started through `command` to end: under py-spy, its child (py-spy then
    writes its file as the child exits)."""
    if _FOLDER is None:
        proc.terminate()
        return
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    except OSError:
        children = []
    for child in children:
        with suppress(ProcessLookupError):
            os.kill(int(child), signal.SIGTERM)


@contextmanager
def figure(name: str) -> Iterator[None]:
    """Sample this process while figure `name` is measured."""
    global _CURRENT
    _CURRENT = name
    if _FOLDER is None:
        yield
        return
    spy = subprocess.Popen(_record("--pid", str(os.getpid()), out=_target("bench")),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
        spy.wait()


def summary(path: Path, only: str | None = None, top: int = 30) -> list[str]:
    """The lines `main` prints for one raw profile."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [re.sub(r" \((?:/.*?/site-packages/|/.*?/lib/python3\.\d+/|/.*?/)", " (", f)
                  for f in stack.split(";")]
        if only and not any(only in f for f in frames):
            continue
        n = int(count)
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    if not total:
        return [f"{path.name}: no samples" + (f" under {only!r}" if only else "")]
    lines = [f"{path.name}: {total} samples" + (f" under {only!r}" if only else ""),
             "in stack  itself  function"]
    for frame, n in inclusive.most_common(top):
        lines.append(f"{n / total:7.1%} {own[frame] / total:7.1%}  {frame[:150]}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("file", type=Path)
    parser.add_argument("--only", help="keep the stacks holding this text (a function name)")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    print("\n".join(summary(args.file, args.only, args.top)))


if __name__ == "__main__":
    main()
