"""Where verification reads its rows, described so that worker processes can read them too.

A source reads its rows in this process (the reference reading, what `verify_log` always did),
cuts them into spans for worker processes, and reads one span there. A worker opens the same
database or the same bundle file itself: a bundle is checked without trusting anyone, and no
row travels through the parent on its way to the checks.

A span is (start, stop, before): positions start <= p < stop in a store; in a bundle, the bytes
start..stop of the record lines (cut at line ends), `before` being the records ahead of them.
When a worker finds a bundle line that is not well formed or not in its leaf's place, or the
parent's count of records differs from the header, the rest is read in this process by a fresh
`BundleReader` of the same kind: a strict one raises exactly the error it always raised, a lenient
one reports what it finds (`RowSource.findings`) as the reader that read it all would have.
"""

from __future__ import annotations

import mmap
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

import orjson

from .bundle import MAX_LINE, BundleError, BundleReader, line_value, record_row, stream_marker
from .errors import Finding, LedgerError
from .keys import raw_public
from .registry import KEYS_STREAM
from .store import Row, Store, open_store
from .trusted import read_trusted
from .verify_work import public_keys

Span = tuple[int, int, int]
MIN_SPAN_BYTES = 4096  # a bundle's spans hold at least this much, whatever its header says
Spec = tuple[str, str]  # ("store", URL) or ("bundle", PATH): what a worker opens


class RowSource(ABC):
    @abstractmethod
    def size(self) -> int:
        """How many records there are to verify (a plan's size, not trusted)."""

    @abstractmethod
    def rows(self) -> Iterable[Row]:
        """Every row, read in this process."""

    @abstractmethod
    def shared(self) -> bool:
        """Whether other processes can open it."""

    @abstractmethod
    def spec(self) -> Spec: ...

    @abstractmethod
    def spans(self, chunk: int) -> list[Span]:
        """About `chunk` records each, in log order, covering every row known now."""

    @abstractmethod
    def rest(self, span: Span | None, delivered: int) -> Iterable[Row]:
        """The rows from `span` on (None: after the last span), read in this process, when
        `delivered` rows came from the spans before it."""

    @abstractmethod
    def signing_keys(self) -> list[bytes]:
        """Raw public keys the log's key-registry records name, unjudged: workers check
        signatures ahead against them (a key id is its key's hash, so a wrong one never
        matches); a key missed here means the record is checked in its turn."""

    def findings(self) -> list[Finding]:
        """What reading the rows found wrong with the source itself (a bundle's lines)."""
        return []

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows())


class StoreRows(RowSource):
    """The log in a database, in position order (`Store.iter_log`)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._upto = 0

    def size(self) -> int:
        return self.store.max_position()

    def rows(self) -> Iterable[Row]:
        return self.store.iter_log()

    def shared(self) -> bool:
        return self.store.shared()

    def spec(self) -> Spec:
        return ("store", self.store.url)

    def spans(self, chunk: int) -> list[Span]:
        self._upto = self.store.max_position()
        return [(a, min(a + chunk, self._upto + 1), 0) for a in range(1, self._upto + 1, chunk)]

    def rest(self, span: Span | None, delivered: int) -> Iterable[Row]:
        # After the spans: what was appended meanwhile, as iter_log would have gone on to read.
        return self.store.iter_log(start=self._upto + 1 if span is None else span[0])

    def signing_keys(self) -> list[bytes]:
        with self.store.read() as cur:
            rows = self.store.stream_rows(cur, KEYS_STREAM)
        return _keys_of(row.state for row in rows)


class BundleRows(RowSource):
    """The records of a bundle whose header and checkpoints `reader` has read."""

    def __init__(self, reader: BundleReader) -> None:
        self.reader = reader
        self.path = reader.path

    def size(self) -> int:
        return self.reader.header.records

    def rows(self) -> Iterable[Row]:
        return self.reader.records() if self.reader.lenient else self.reader.rows()

    def findings(self) -> list[Finding]:
        return self.reader.findings

    def shared(self) -> bool:
        return True

    def spec(self) -> Spec:
        return ("bundle", str(self.path))

    def spans(self, chunk: int) -> list[Span]:
        with self.path.open("rb") as handle:
            for _ in range(self.reader.head_lines):  # the lines the reader has read
                handle.readline()
            start, end = handle.tell(), os.fstat(handle.fileno()).st_size
            if start >= end:
                return []
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                # The header's count only guides the cut (a wrong one is the reader's to refuse).
                pieces = max(1, min(-(-self.size() // chunk), (end - start) // MIN_SPAN_BYTES))
                step = max(1, (end - start) // pieces)
                spans, before = [], 0
                while start < end:
                    cut = data.find(b"\n", min(start + step, end) - 1)
                    stop = end if cut < 0 else cut + 1
                    spans.append((start, stop, before))
                    before += data[start:stop].count(b"\n")
                    start = stop
        return spans

    def rest(self, span: Span | None, delivered: int) -> Iterable[Row]:
        if span is None and delivered == self.size():
            return ()  # every line was well formed and the count is the header's
        return _rows_after(self.reader, delivered)

    def signing_keys(self) -> list[bytes]:
        found: list[bytes] = []
        with self.path.open("rb") as handle, \
                mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            marker = stream_marker(KEYS_STREAM)
            at = data.find(marker)
            while at >= 0:
                begin, end = data.rfind(b"\n", 0, at) + 1, data.find(b"\n", at)
                try:
                    stored = orjson.loads(data[begin:end if end >= 0 else len(data)])["stored"]
                    found += _keys_of([stored.encode("utf-8")])
                except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError,
                        UnicodeError):
                    pass  # not a record line: nothing to learn from it
                at = data.find(marker, at + 1)
        return found


def _rows_after(first: BundleReader, delivered: int) -> Iterator[Row]:
    """The rows after the first `delivered`, read by a fresh reader of `first`'s kind; what it
    finds in them joins `first`'s findings (its own head's are `first`'s already)."""
    reader = BundleReader(first.path, lenient=first.lenient)
    head = len(reader.findings)
    try:
        yield from islice(reader.records() if reader.lenient else reader.rows(), delivered, None)
    finally:
        first.findings.extend(reader.findings[head:])
        reader.close()


def _keys_of(states: Iterable[bytes]) -> list[bytes]:
    found = []
    for state in states:
        try:
            record = read_trusted(state)
            found += [raw_public(key) for key in public_keys(record.payload())]
        except (LedgerError, orjson.JSONDecodeError, TypeError, AttributeError):
            continue
    return found


_PLAIN = frozenset((str, int, bool, type(None)))  # values orjson and json read alike


def read_line(raw: bytes, line: int) -> dict[str, Any]:
    """A record line's object (`raw` without its newline), exactly as `line_value` reads it:
    by orjson, ten times faster, where the line is well formed and every value one that both
    parsers read alike (orjson reads an integer past 64 bits as a double, json as an integer;
    it refuses NaN and lone surrogates, which json takes); by `line_value` otherwise, which
    alone says what is wrong. Raises UnicodeDecodeError or BundleError as reading it does."""
    text = raw.decode("utf-8")
    if len(raw) < MAX_LINE:  # with its newline, at most MAX_LINE characters
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            value = None
        if type(value) is dict and _PLAIN.issuperset(map(type, value.values())):
            return value
    return line_value(text + "\n", line)


# -- in a worker ------------------------------------------------------------------------------

class SpanReader:
    """A worker's side of a source: reads one span's rows; True when a bundle line in it is not
    well formed (the rows before it are returned; the parent reads from there itself)."""

    def __init__(self, spec: Spec) -> None:
        self.kind, self.where = spec
        self.store = open_store(self.where) if self.kind == "store" else None

    def read(self, span: Span) -> tuple[list[Row], bool]:
        start, stop, before = span
        if self.store is not None:
            return [r for r in self.store.log_rows(start, stop - start) if r.position < stop], False
        with open(self.where, "rb") as handle:
            handle.seek(start)
            data = handle.read(stop - start)
        lines = data.split(b"\n")
        rows = []
        for count, raw in enumerate(lines[:-1], start=before):
            try:  # as BundleReader reads a line (its messages are its own to give)
                rows.append(record_row(read_line(raw, count), count, count))
            except (UnicodeDecodeError, BundleError):
                return rows, True
        return rows, lines[-1] != b""  # a last line with no newline is truncated

    def close(self) -> None:
        if self.store is not None:
            self.store.close()

