"""CPU seconds spent by processes, read from /proc (Linux): a server and everything it started
(its view runner, its workers), or every process of a command such as `postgres`. The HTTP
figures divide these by the entries appended to show what one entry costs in CPU, and so the
rate the machine's cores could give at best, whoever's cores they are."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PROC = Path("/proc")


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(command, parent pid, CPU seconds of the process: user + system, its threads included)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # the command is in parentheses and may hold spaces: split after its closing one
    command = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    return command, int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS


def _table() -> dict[int, tuple[str, int, float]]:
    table = {}
    for entry in PROC.iterdir() if PROC.is_dir() else ():
        if entry.name.isdigit() and (row := _stat(int(entry.name))) is not None:
            table[int(entry.name)] = row
    return table


def tree_seconds(roots: Iterable[int]) -> dict[int, float]:
    """CPU seconds of each living process under `roots` (the roots included), by pid."""
    table = _table()
    children: dict[int, list[int]] = {}
    for pid, (_, parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found: dict[int, float] = {}
    todo = [pid for pid in roots if pid in table]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found[pid] = table[pid][2]
            todo.extend(children.get(pid, ()))
    return found


def command_seconds(command: str) -> dict[int, float]:
    """CPU seconds of each living process whose command is `command` (e.g. postgres's backends)."""
    return {pid: cpu for pid, (name, _, cpu) in _table().items() if name == command}


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two readings: a process that began meanwhile counts whole; one
    that ended meanwhile is lost (read before the servers stop)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def written_bytes() -> int | None:
    """Bytes this process has caused to be sent to storage (`write_bytes` of /proc/self/io):
    what its commits cost the disk, journal and checkpoints included. None off Linux."""
    try:
        for line in (PROC / "self" / "io").read_text().splitlines():
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def available() -> bool:
    return (PROC / "self" / "stat").is_file()
