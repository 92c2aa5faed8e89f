"""The audit bundle: one file a regulator takes home and checks with no server and no database.

JSON Lines, UTF-8, in this order:
  1. header      {"format": "trial-ledger/bundle/v1", "origin", "exported_at", "records",
                  "tree_size", "checkpoints", "protocol"}
  2. checkpoints {"checkpoint": SIGNED_NOTE}             one line each, by size
  3. records     {"leaf_index", "position", "stream", "version", "type", "stored": STORED_TEXT}
                  in leaf order; STORED_TEXT is the stored record exactly as kept
The key registry travels inside the records (stream `keys`), so it is verified like them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .errors import LedgerError
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
    """Reads a bundle lazily; every malformed line is a BundleError naming the line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file = path.open("r", encoding="utf-8", newline="\n")
        except OSError as exc:
            raise BundleError(f"cannot read bundle {path}: {exc.strerror}") from exc
        self._line = 0
        try:
            self._read_head()
        except BaseException:
            self._file.close()  # a bundle refused at its head leaves no open file behind
            raise

    def _read_head(self) -> None:
        head = self._next()
        if head is None or head.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"{self.path} is not a {BUNDLE_FORMAT} bundle")
        try:
            self.header = Header(str(head["origin"]), str(head["exported_at"]), int(head["records"]),
                                 int(head["tree_size"]), int(head["checkpoints"]), head.get("protocol"))
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"bundle header lacks or mistypes {exc}") from exc
        self.checkpoints: list[str] = []
        for _ in range(self.header.checkpoints):
            line = self._next()
            if line is None or not isinstance(line.get("checkpoint"), str):
                raise BundleError(f"line {self._line}: expected a checkpoint")
            self.checkpoints.append(line["checkpoint"])

    def rows(self) -> Iterator[Row]:
        count = 0
        while (line := self._next()) is not None:
            yield record_row(line, self._line, count)
            count += 1
        if count != self.header.records:
            raise BundleError(f"bundle holds {count} records, its header says {self.header.records}")

    def close(self) -> None:
        self._file.close()

    def _next(self) -> dict[str, Any] | None:
        try:
            text = self._file.readline(MAX_LINE + 1)
        except UnicodeDecodeError as exc:
            raise BundleError(f"line {self._line + 1} is not UTF-8") from exc
        if not text:
            return None
        self._line += 1
        return line_value(text, self._line)


# The checks of one line, shared with verification workers that read a range of lines
# themselves (ledger/verify_sources.py): one definition of what a well-formed line is.

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


def record_row(value: dict[str, Any], line: int, count: int) -> Row:
    """The row of a record line; `count` records came before it."""
    try:
        row = Row(int(value["position"]), str(value["stream"]), int(value["version"]),
                  str(value["type"]), str(value["stored"]).encode("utf-8"))
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"line {line}: record lacks or mistypes {exc}") from exc
    if value.get("leaf_index") != count:
        raise BundleError(f"line {line}: leaf_index {value.get('leaf_index')} where {count} was due")
    return row
