"""As-of: any view as the log stood at a time, a log position, or a signed checkpoint's size.

"What did the data manager see on 3 March" is the view folded from the records recorded up to
then, and nothing after; a checkpoint names the first `size` leaves, which are the first `size`
records in log order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ledger.entry import Record, format_time, parse_time
from ledger.errors import LedgerError


class CutError(LedgerError):
    rule = "as_of.invalid"


@dataclass(frozen=True)
class Cut:
    """Where the log is cut: records recorded at or before `time`, at or before `position`, or
    among the first `size` leaves. Several bounds may combine; all must hold."""

    time: str | None = None
    position: int | None = None
    size: int | None = None

    @classmethod
    def parse(cls, text: str) -> Cut:
        """`2026-03-03T00:00:00Z` (a UTC time), `2026-03-03` (that day's end, UTC), `position:N`,
        or `checkpoint:SIZE`."""
        text = text.strip()
        if match := re.fullmatch(r"(position|checkpoint):(\d{1,18})", text):
            value = int(match.group(2))
            return cls(position=value) if match.group(1) == "position" else cls(size=value)
        if re.fullmatch(r"\d{4}-\d\d-\d\d", text):
            text += "T23:59:59.999999Z"  # a day means as the day ended (UTC)
        try:
            moment = parse_time(text)
        except ValueError as exc:
            raise CutError(f"as_of {text!r} is not a UTC time, position:N or checkpoint:SIZE",
                           field="as_of") from exc
        if moment.tzinfo is None:
            raise CutError("as_of times need a UTC offset (…Z)", field="as_of")
        return cls(time=format_time(moment))

    def holds(self, record: Record, index: int) -> bool:
        if self.time is not None and record.recorded_at > self.time:
            return False
        if self.position is not None and (record.position or 0) > self.position:
            return False
        return self.size is None or index < self.size

    def describe(self) -> str:
        parts = [f"recorded at or before {self.time}" if self.time else "",
                 f"log position ≤ {self.position}" if self.position is not None else "",
                 f"first {self.size} leaves" if self.size is not None else ""]
        return ", ".join(p for p in parts if p) or "the whole log"


def within(records: Iterable[Record], cut: Cut | None) -> Iterator[Record]:
    """The records of the log (in log order) that the cut keeps."""
    for index, record in enumerate(records):
        if cut is None or cut.holds(record, index):
            yield record
        elif cut.time is None:
            return  # position and size cuts are prefixes of the log: nothing later qualifies
