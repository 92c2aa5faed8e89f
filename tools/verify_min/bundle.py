"""Reading an audit bundle (formats.md, "Audit bundle"): header, checkpoint lines, record lines.

Every damaged line becomes a finding and reading goes on; only a bad header stops it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from common import BUNDLE_V1, MAX_LINE, Line, Report, is_int

SPELLED_LEAF = re.compile(rb'"leaf_index": (-?(?:0|[1-9][0-9]{0,17}))(?![0-9.eE])')
SPELLED_STREAM = re.compile(rb'"stream": ("(?:[^"\\]|\\.)*")')
SPELLED_VERSION = re.compile(rb'"version": (-?(?:0|[1-9][0-9]{0,17}))(?![0-9.eE])')


@dataclass
class Bundle:
    origin: str
    header: dict[str, Any]
    checkpoints: list[tuple[int, str]] = field(default_factory=list)  # (line, note)
    lines: list[Line] = field(default_factory=list)  # readable record lines, in file order


def read_bundle(path: str, report: Report) -> Bundle | None:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        report.add("bundle.unreadable", f"cannot open {path}: {exc.strerror or exc}")
        return None
    lines = data.split(b"\n")
    unterminated = lines[-1] != b""
    if not unterminated:
        lines.pop()
    if not lines:
        report.add("bundle.header", "the file is empty", line=1)
        return None
    last = len(lines)
    obj, why = read_line(lines[0], unterminated and last == 1)
    problem = why if why or obj is None else header_problem(obj)
    if problem or obj is None:
        report.add("bundle.header", f"line 1 is not a {BUNDLE_V1} header: {problem}", line=1)
        return None
    bundle = Bundle(obj["origin"], obj)
    record_lines: list[Line] = []
    due, no = bundle.header["checkpoints"], 2  # the header says how many checkpoint lines follow it
    while no <= last and no - 2 < due:
        obj, why = read_line(lines[no - 1], unterminated and no == last)
        if obj is not None and not why and "leaf_index" in obj:
            break  # the records begin early
        if why or obj is None or not isinstance(obj.get("checkpoint"), str):
            report.add("bundle.checkpoint_unreadable", f"line {no}: {why or 'no checkpoint note'}", line=no)
        else:
            bundle.checkpoints.append((no, obj["checkpoint"]))
        no += 1
    if no - 2 < due:
        report.add("bundle.checkpoint_unreadable", f"checkpoint line {no - 1} of {due} was due at line "
                   f"{no}; {'the records begin' if no <= last else 'the file ends'}", line=no)
    first_record = no
    placed: list[tuple[int, Line | None]] = []  # (leaf index, line) in file order, for the leaf order
    for no, raw in enumerate(lines[first_record - 1:], first_record):
        obj, why = read_line(raw, unterminated and no == last)
        rec = record_line(no, obj) if obj is not None and not why else None
        if rec is None:  # not read: located where the damaged bytes still say
            leaf, stream, version = spelled(raw)
            report.add("bundle.line_unreadable", f"line {no}: {why or 'not a record line of the form'}",
                       leaf, no, stream, version)
            if leaf is not None:
                placed.append((leaf, None))
        else:
            record_lines.append(rec)
            placed.append((rec.leaf, rec))
    if len(record_lines) != bundle.header["records"]:
        report.add("bundle.record_count", f"the bundle holds {len(record_lines)} readable record lines, "
                   f"its header says {bundle.header['records']}")
    check_leaves(placed, bundle.header["records"], report)
    bundle.lines = record_lines
    return bundle


def read_line(raw: bytes, unterminated: bool) -> tuple[dict[str, Any] | None, str | None]:
    """A wrapper line's object (None when unreadable) and what is wrong with the line (None)."""
    if len(raw) > MAX_LINE:
        return None, f"longer than {MAX_LINE} bytes"
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        cut = " (the file ends inside it)" if unterminated else ""
        return None, f"not UTF-8 JSON{cut}: {str(exc)[:80]}"
    if not isinstance(obj, dict):
        return None, "not a JSON object"
    return obj, "not ended by LF (the file ends inside it)" if unterminated else None


def header_problem(obj: dict[str, Any]) -> str | None:
    """What "Reading a bundle" requires of line 1 (other members are not judged)."""
    if obj.get("format") != BUNDLE_V1:
        return f"format is {obj.get('format')!r}"
    for k in ("checkpoints", "records", "tree_size"):
        if not is_int(obj.get(k)) or obj[k] < 0:
            return f"`{k}` is not a count"
    for k in ("origin", "exported_at"):
        if not isinstance(obj.get(k), str):
            return f"`{k}` is not a string"
    return None


def record_line(no: int, obj: dict[str, Any]) -> Line | None:
    if not all(is_int(obj.get(k)) for k in ("leaf_index", "position", "version")):
        return None
    if not all(isinstance(obj.get(k), str) for k in ("stored", "stream", "type")):
        return None
    return Line(no, obj["leaf_index"], obj["position"], obj["stored"], obj["stream"], obj["type"],
                obj["version"])


def spelled(raw: bytes) -> tuple[int | None, str | None, int | None]:
    """The leaf index, stream and version a damaged line still spells, where it does."""
    leaf, version = SPELLED_LEAF.search(raw), SPELLED_VERSION.search(raw)
    stream = SPELLED_STREAM.search(raw)
    name: str | None = None
    if stream:
        try:
            name = json.loads(stream.group(1).decode("utf-8", "replace"))
        except ValueError:
            name = None
    return (int(leaf.group(1)) if leaf else None, name, int(version.group(1)) if version else None)


def check_leaves(placed: list[tuple[int, Line | None]], records: int, report: Report) -> None:
    """Leaf order over the lines in file order ("Reading a bundle"), by the lines' own leaf indexes:
    gaps opened by a leaf above the one due, filled by a later line (out of order) or still open at
    the end (missing); a leaf below the one due and in no gap is a repeat."""
    due = 0
    gaps: list[tuple[int, int]] = []  # open gaps [start, end)
    last: tuple[str, int] | None = None  # (check, leaf) of the previous line's finding
    for leaf, ln in placed:
        check = None
        if leaf == due:
            due += 1
        elif leaf > due:
            if ln is not None:
                gaps.append((due, leaf))
                due = leaf + 1
        elif ln is not None:
            hit = next((g for g in gaps if g[0] <= leaf < g[1]), None)
            check = "bundle.leaf_duplicated" if hit is None else "bundle.leaf_out_of_order"
            if hit is not None:  # the line fills its leaf: what is left of the gap stays open
                gaps.remove(hit)
                gaps.extend(g for g in ((hit[0], leaf), (leaf + 1, hit[1])) if g[0] < g[1])
        if check and ln is not None and last != (check, leaf - 1):
            report.add(check, f"line {ln.no} holds leaf {leaf}", leaf, ln.no, ln.stream, ln.version)
        last = (check, leaf) if check else None
    if records > due:
        gaps.append((due, records))
    for start, end in sorted(gaps):
        what = f"leaf {start}" if end - start == 1 else f"leaves {start}…{end - 1} ({end - start})"
        report.add("bundle.leaf_missing", f"no line holds {what}", start)
