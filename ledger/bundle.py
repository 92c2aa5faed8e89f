"""The audit bundle: one file a regulator takes home and checks with no server and no database.

JSON Lines, UTF-8, in this order:
  1. header      {"format": "trial-ledger/bundle/v1", "origin", "exported_at", "records",
                  "tree_size", "checkpoints", "protocol"}
  2. checkpoints {"checkpoint": SIGNED_NOTE}             one line each, by size
  3. records     {"leaf_index", "position", "stream", "version", "type", "stored": STORED_TEXT}
                  in leaf order; STORED_TEXT is the stored record exactly as kept
The key registry travels inside the records (stream `keys`), so it is verified like them.

Read strictly (`import`), the first malformed line is a BundleError naming it. Read leniently
(`verify-bundle`), every readable record line is given to the checks in the file's order, and what
is wrong with a line or with the order of the leaves is a Finding (`bundle.*`, with the line and,
where the line still tells them, the leaf index, stream and version): the reader never stops.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .errors import Finding, LedgerError
from .store import Row

BUNDLE_FORMAT = "trial-ledger/bundle/v1"
MAX_LINE = 16 * 1024 * 1024


class BundleError(LedgerError):
    rule = "bundle.malformed"


@dataclass(frozen=True)
class Header:
    origin: str
    exported_at: str
    records: int
    tree_size: int
    checkpoints: int
    protocol: Any


def write_bundle(out: IO[str], *, origin: str, exported_at: str, rows: Iterator[Row],
                 records: int, checkpoints: list[str], protocol: Any = None,
                 progress: Callable[[int], None] | None = None) -> int:
    """Stream a bundle to `out`; returns the number of records written."""
    header = {"format": BUNDLE_FORMAT, "origin": origin, "exported_at": exported_at,
              "records": records, "tree_size": records, "checkpoints": len(checkpoints),
              "protocol": protocol}
    out.write(json.dumps(header, sort_keys=True) + "\n")
    for note in checkpoints:
        out.write(json.dumps({"checkpoint": note}) + "\n")
    written = 0
    for index, row in enumerate(rows):
        out.write(record_line(index, row))
        written += 1
        if progress is not None:
            progress(1)
    if written != records:
        raise BundleError(f"the log changed while exporting: {written} records, expected {records}")
    return written


def record_line(index: int, row: Row) -> str:
    """A record's line (`stream_marker` finds lines of a stream without parsing them)."""
    return json.dumps({"leaf_index": index, "position": row.position, "stream": row.stream,
                       "version": row.version, "type": row.topic,
                       "stored": row.state.decode("utf-8")}, sort_keys=True) + "\n"


def stream_marker(stream: str) -> bytes:
    """The bytes every record line of `stream` holds, as `record_line` writes them."""
    return json.dumps({"stream": stream})[1:-1].encode("utf-8")


class BundleReader:
    """Reads a bundle lazily. Strict (`rows`): every malformed line is a BundleError naming the
    line. Lenient (`lenient=True`, `records`): only an unreadable header is an error; what is
    wrong with any other line goes to `findings`."""

    def __init__(self, path: Path, *, lenient: bool = False) -> None:
        self.path = path
        self.lenient = lenient
        self.findings: list[Finding] = []
        try:
            self._file = path.open("rb")
        except OSError as exc:
            raise BundleError(f"cannot read bundle {path}: {exc.strerror}", rule="bundle.unreadable") \
                from exc
        self._line = 0
        try:
            self._read_head()
        except BaseException:
            self._file.close()  # a bundle refused at its head leaves no open file behind
            raise
        self.head_lines = self._line  # the header's and checkpoints' lines

    def _read_head(self) -> None:
        try:
            head = self._next()
        except BundleError as exc:
            raise BundleError(exc.message, rule="bundle.header") from exc
        if head is None or head.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"{self.path} is not a {BUNDLE_FORMAT} bundle", rule="bundle.header")
        try:
            self.header = Header(str(head["origin"]), str(head["exported_at"]), int(head["records"]),
                                 int(head["tree_size"]), int(head["checkpoints"]), head.get("protocol"))
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"bundle header lacks or mistypes {exc}", rule="bundle.header") from exc
        self.checkpoints: list[str] = []
        for _ in range(self.header.checkpoints):
            start = self._file.tell()
            try:
                line = self._next()
            except BundleError as exc:
                if not self.lenient:
                    raise
                self._found("bundle.checkpoint_unreadable", exc.message)
                continue
            if line is not None and isinstance(line.get("checkpoint"), str):
                self.checkpoints.append(line["checkpoint"])
                continue
            if not self.lenient:
                raise BundleError(f"line {self._line}: expected a checkpoint")
            if line is None or "leaf_index" in line:  # fewer checkpoints than the header says
                self._found("bundle.checkpoint_unreadable", f"checkpoint {len(self.checkpoints) + 1} "
                            f"of {self.header.checkpoints} was due; the records begin")
                if line is not None:  # the records begin here: they are read as records
                    self._file.seek(start)
                    self._line -= 1
                break
            self._found("bundle.checkpoint_unreadable", f"line {self._line}: expected a checkpoint")

    def rows(self) -> Iterator[Row]:
        count = 0
        while (line := self._next()) is not None:
            yield record_row(line, self._line, count)
            count += 1
        if count != self.header.records:
            raise BundleError(f"bundle holds {count} records, its header says {self.header.records}")

    def records(self) -> Iterator[Row]:
        """Every readable record line's row, in the file's order; what is wrong with the other
        lines, the order of the leaves and their count goes to `findings`. One pass: a line in its
        place costs one comparison more than `rows`."""
        order = _LeafOrder(self.findings)
        count = 0
        while raw := self._raw():
            line = self._line
            try:
                value = line_value(_decoded(raw, line), line)
                row = row_of(value, line)
                leaf = value.get("leaf_index")
                if type(leaf) is not int:
                    raise BundleError(f"line {line}: leaf_index {leaf!r} is not a whole number")
            except BundleError as exc:
                leaf, position, stream, version = _told(raw)
                self.findings.append(Finding("bundle.line_unreadable", exc.message, position, stream,
                                             version, leaf, {"line": line}))
                if leaf == order.due:  # in its place, only unreadable: no leaf is missing there
                    order.due += 1
                continue
            if leaf == order.due:
                order.due += 1
            else:
                order.misplaced(leaf, line, row)
            count += 1
            yield row
        order.close(self.header.records)
        if count != self.header.records:
            self.findings.append(Finding("bundle.record_count", f"the bundle holds {count} readable "
                                         f"record lines, its header says {self.header.records}"))

    def close(self) -> None:
        self._file.close()

    def _found(self, check: str, detail: str) -> None:
        self.findings.append(Finding(check, detail, extra={"line": self._line}))

    def _raw(self) -> bytes:
        """The next line's bytes (b"" at the end); a line longer than MAX_LINE is read whole, so
        that the next line starts where it should, and returned cut (as too long)."""
        raw = self._file.readline(MAX_LINE + 1)
        if not raw:
            return raw
        self._line += 1
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            while (more := self._file.readline(MAX_LINE)) and not more.endswith(b"\n"):
                pass
        return raw

    def _next(self) -> dict[str, Any] | None:
        raw = self._raw()
        return line_value(_decoded(raw, self._line), self._line) if raw else None


class _LeafOrder:
    """Where the record lines stand against the leaf indexes they name. `due` is one past the
    highest leaf read in sequence; a leaf beyond it leaves a gap, a leaf inside a gap came late,
    any other below it is a repeat. Consecutive lines of one kind are one finding."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        self.due = 0
        # Leaves first..stop-1 not read yet, in order, with the line that skipped them (None: the end).
        self.gaps: list[tuple[int, int, int | None]] = []
        # The current run of misplaced lines: its finding, first line, first leaf, last line, last leaf.
        self.run: tuple[Finding, int, int, int, int] | None = None

    def misplaced(self, leaf: int, line: int, row: Row) -> None:
        if leaf > self.due:
            self.gaps.append((self.due, leaf, line))
            self.due = leaf + 1
            self.run = None
            return
        check = "bundle.leaf_duplicated"
        for n, (first, stop, at) in enumerate(self.gaps):
            if first <= leaf < stop:
                self.gaps[n:n + 1] = [g for g in ((first, leaf, at), (leaf + 1, stop, at)) if g[0] < g[1]]
                check = "bundle.leaf_out_of_order"
                break
        if self.run is not None:
            finding, first_line, first_leaf, last_line, last_leaf = self.run
            if finding.check == check and (line, leaf) == (last_line + 1, last_leaf + 1):
                self.run = (finding, first_line, first_leaf, line, leaf)
                finding.detail = self._detail(check, first_line, line, first_leaf, leaf)
                return
        finding = Finding(check, self._detail(check, line, line, leaf, leaf), row.position, row.stream,
                          row.version, leaf, {"line": line})
        self.findings.append(finding)
        self.run = (finding, line, leaf, line, leaf)

    def _detail(self, check: str, first_line: int, last_line: int, first: int, last: int) -> str:
        lines = f"line {first_line} holds leaf {first}" if first == last else \
            f"lines {first_line}…{last_line} hold leaves {first}…{last}"
        if check == "bundle.leaf_duplicated":
            return f"{lines}, which an earlier line holds already"
        return f"{lines}, after leaf {self.due - 1}: the lines are out of leaf order"

    def close(self, records: int) -> None:
        """The leaves no line held: gaps, and the end short of the header's count."""
        if self.due < records:
            self.gaps.append((self.due, records, None))
        for first, stop, at in self.gaps:
            detail = f"no line holds leaf {first}" if stop - first == 1 else \
                f"no line holds leaves {first}…{stop - 1} ({stop - first})"
            if at is not None:
                detail += f" (line {at} holds a later leaf)"
            self.findings.append(Finding("bundle.leaf_missing", detail, leaf_index=first,
                                         extra={"line": at}))


# The checks of one line, shared with verification workers that read a range of lines
# themselves (ledger/verify_sources.py): one definition of what a well-formed line is.

def _decoded(raw: bytes, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(f"line {line} is not UTF-8") from exc


def line_value(text: str, line: int) -> dict[str, Any]:
    """A line read with its newline (at most MAX_LINE + 1 characters), as a JSON object."""
    if len(text) > MAX_LINE or not text.endswith("\n"):
        raise BundleError(f"line {line} is truncated or longer than {MAX_LINE} bytes")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise BundleError(f"line {line} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise BundleError(f"line {line} is not a JSON object")
    return value


def row_of(value: dict[str, Any], line: int) -> Row:
    """The row a record line holds, whatever its leaf index."""
    try:
        return Row(int(value["position"]), str(value["stream"]), int(value["version"]),
                   str(value["type"]), str(value["stored"]).encode("utf-8"))
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"line {line}: record lacks or mistypes {exc}") from exc


def record_row(value: dict[str, Any], line: int, count: int) -> Row:
    """The row of a record line; `count` records came before it."""
    row = row_of(value, line)
    leaf = value.get("leaf_index")
    if type(leaf) is not int or leaf != count:
        raise BundleError(f"line {line}: leaf_index {leaf} where {count} was due")
    return row


# What a damaged line still tells. Inside `stored` every quote is escaped, so these match the
# line's own keys only (`record_line` writes them as `"key": value`).
_TOLD = {key: re.compile(rb'"%s": (-?\d+|"(?:[^"\\]|\\.)*")' % key.encode())
         for key in ("leaf_index", "position", "stream", "version")}


def _told(raw: bytes) -> tuple[Any, Any, Any, Any]:
    """(leaf_index, position, stream, version) as far as a damaged line still holds them."""
    told: list[Any] = []
    for key, pattern in _TOLD.items():
        match = pattern.search(raw)
        try:
            value = json.loads(match.group(1)) if match else None
        except ValueError:
            value = None
        told.append(value if isinstance(value, str if key == "stream" else int) else None)
    return told[0], told[1], told[2], told[3]
