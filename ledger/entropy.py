"""Where fresh randomness comes from: the operating system's CSPRNG, always, except inside
`seeded()`, which the trial simulator enters only when given a seed, so that one seed gives the
same keys, salts and allocation list again (and so byte-identical bundles). Nothing else enters
`seeded()`: a demo without a seed has keys nobody can rebuild."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_source: Callable[[int], bytes] = secrets.token_bytes


def random_bytes(n: int) -> bytes:
    with _lock:
        return _source(n)


class _Stream:
    """HMAC-SHA-256 in counter mode over the seed: a deterministic stream of bytes."""

    def __init__(self, seed: bytes) -> None:
        self._key = hashlib.sha256(b"trial-ledger/simulation/v1" + seed).digest()
        self._counter = 0
        self._buffer = b""

    def __call__(self, n: int) -> bytes:
        while len(self._buffer) < n:
            self._counter += 1
            block = self._counter.to_bytes(8, "big")
            self._buffer += hmac.new(self._key, block, hashlib.sha256).digest()
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out


@contextmanager
def seeded(seed: bytes) -> Iterator[None]:
    """Within this block every key, salt and list seed comes from `seed` (simulation only)."""
    global _source
    with _lock:
        previous, _source = _source, _Stream(seed)
    try:
        yield
    finally:
        with _lock:
            _source = previous
