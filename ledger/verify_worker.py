"""A verification worker: `python -m ledger.verify_worker`, started by ledger/verify_parallel.py.

It reads frames (8-byte length, then marshal's bytes: builtin values only) on stdin: first
(source spec, raw public keys), then one span at a time, and answers each span on stdout with
(wire rows, trouble) in the order the spans came. It opens the database or bundle itself
(ledger/verify_sources.py) and does the order-free work of each row (ledger/verify_work.py).
A fresh interpreter: nothing of the parent's state is inherited, and it imports the ledger
only, not the CLI.
"""

from __future__ import annotations

import marshal
import sys
from typing import IO, Any

from .verify_sources import SpanReader
from .verify_work import Worker

HEADER = 8


def read_body(stream: IO[bytes]) -> bytes | None:
    """The next frame's bytes; None at the end of the stream (or a frame cut short)."""
    head = stream.read(HEADER)
    if len(head) < HEADER:
        return None
    size = int.from_bytes(head, "big")
    body = stream.read(size)
    return body if len(body) == size else None


def read_frame(stream: IO[bytes]) -> Any:
    """The next frame's object; None at the end of the stream."""
    body = read_body(stream)
    return None if body is None else marshal.loads(body)


def frame(value: Any) -> bytes:
    body = marshal.dumps(value)
    return len(body).to_bytes(HEADER, "big") + body


def main() -> None:
    source, out = sys.stdin.buffer, sys.stdout.buffer
    setup = read_frame(source)
    if setup is None:
        return
    spec, keys = setup
    reader, worker = SpanReader(spec), Worker(keys)
    try:
        while (span := read_frame(source)) is not None:
            rows, trouble = reader.read(span)
            out.write(frame(([worker.wire(row) for row in rows], trouble)))
            out.flush()
    finally:
        reader.close()


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        sys.exit(0)  # the parent stopped listening: it has what it needs
    except KeyboardInterrupt:
        sys.exit(130)  # the parent was interrupted too, and says so itself
    except Exception as exc:  # one line, not a traceback: the parent reads the rest itself
        print(f"verify worker: {type(exc).__name__}: {getattr(exc, 'message', exc)}; the rest is "
              "checked in the main process", file=sys.stderr)
        sys.exit(1)
