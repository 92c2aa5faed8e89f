"""A witness (https://c2sp.org/tlog-witness) that cosigns a log's checkpoints only while each one extends
the last it accepted. It keeps, per log origin, the last checkpoint it accepted, so a log that shows two
histories (a split view) cannot get both cosigned by the same witness. The cosignature/v1 format itself,
and the checks of cosigned checkpoints, are in ``cosignature``; their public names are re-exported here.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from .cosignature import (
    CosignatureSigner,
    CosignatureVerifier,
    WitnessError,
    _check_timestamp,
    _open_log_checkpoint,
    _split_line,
    _split_note,
    cosignature_message,
    verify_cosigned,
)
from .merkle import MerkleError, verify_consistency
from .note import MAX_SIGNATURES, Checkpoint, NoteError, NoteVerifier

__all__ = [
    "CosignatureSigner",
    "CosignatureVerifier",
    "LogInconsistent",
    "OlderCheckpoint",
    "UnknownOrigin",
    "Witness",
    "WitnessError",
    "cosignature_message",
    "verify_cosigned",
]

_UNSAFE_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class UnknownOrigin(WitnessError):
    """The checkpoint names a log this witness does not follow (tlog-witness: 404)."""


class OlderCheckpoint(WitnessError):
    """The checkpoint is smaller than the one already accepted (tlog-witness: 409); ``size`` is ours."""

    def __init__(self, message: str, *, size: int) -> None:
        super().__init__(message)
        self.size = size


class LogInconsistent(WitnessError):
    """The checkpoint does not extend the one already accepted: the log forked, or the proof is wrong.

    Both checkpoints carry valid log signatures, so ``old`` and ``new`` are worth keeping as evidence.
    """

    def __init__(self, message: str, *, old: Checkpoint, new: Checkpoint) -> None:
        super().__init__(message)
        self.old = old
        self.new = new


def _state_file_name(origin: str) -> str:
    """A readable, collision-free file name: a sanitised prefix plus a hash of the whole origin.

    The hash keeps origins that sanitise alike (or differ only in case) apart; the prefix holds no
    path separator and no leading dot, so no origin can name a path outside the folder.
    """
    readable = _UNSAFE_IN_FILE_NAME.sub("_", origin).lstrip(".")[:64]
    digest = hashlib.sha256(origin.encode(errors="surrogatepass")).hexdigest()[:32]
    return f"{readable}-{digest}.checkpoint" if readable else f"{digest}.checkpoint"


class Witness:
    """Cosigns checkpoints of the logs it follows, each only if it extends the last one accepted.

    State is one file per origin holding the last accepted signed checkpoint, exactly as received;
    a file is replaced atomically, and check-then-store runs under a lock on the folder so two
    concurrent submissions cannot roll a log back (the race tlog-witness describes).
    """

    def __init__(self, state_dir: Path, signer: CosignatureSigner, logs: Mapping[str, NoteVerifier]) -> None:
        self.state_dir = Path(state_dir)
        self.signer = signer
        self.logs = dict(logs)
        self.state_dir.mkdir(parents=True, exist_ok=True)

    def _path(self, origin: str) -> Path:
        return self.state_dir / _state_file_name(origin)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # flock also excludes other Witness objects and processes that share the folder.
        with open(self.state_dir / ".lock", "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def last(self, origin: str) -> bytes | None:
        """The last signed checkpoint accepted for ``origin``, as received, or None."""
        try:
            return self._path(origin).read_bytes()
        except FileNotFoundError:
            return None

    def _stored(self, origin: str) -> Checkpoint | None:
        note = self.last(origin)
        if note is None:
            return None
        # Our own file, verified when written: parse it, but do not ask the log's current key.
        text, _ = _split_note(note)
        try:
            checkpoint = Checkpoint.parse_body(text)
        except NoteError as err:
            raise WitnessError(f"stored checkpoint for {origin} is corrupt: {err}") from err
        if checkpoint.origin != origin:
            raise WitnessError(f"stored checkpoint for {origin} names origin {checkpoint.origin}")
        return checkpoint

    def witness(self, note: bytes, consistency_proof: Sequence[bytes], *, now: int) -> bytes:
        """Verify and cosign a signed checkpoint; return it with this witness's cosignature appended.

        The proof runs from the last accepted checkpoint of the same origin to this one, and must
        be empty when there is none (that first checkpoint is trusted on first use).
        """
        _check_timestamp(now)
        # (1) Which log: read the origin from the unverified text only to choose the key.
        split = note.rfind(b"\n\n")
        if split < 0:
            raise WitnessError("not a signed checkpoint: no blank line between body and signatures")
        try:
            origin = Checkpoint.parse_body(note[: split + 1]).origin
        except NoteError as err:
            raise WitnessError(f"not a signed checkpoint: {err}") from err
        log = self.logs.get(origin)
        if log is None:
            raise UnknownOrigin(f"unknown log origin {origin!r}: this witness does not follow it")
        # (2) The log's signature, over the exact bytes received.
        new, body, lines = _open_log_checkpoint(note, log)
        own = [line for line in lines if _is_by(line, self.signer)]
        if len(lines) - len(own) + 1 > MAX_SIGNATURES:
            raise WitnessError(f"checkpoint already has {len(lines)} signatures, at most {MAX_SIGNATURES}")
        cosignature = self.signer.cosign(body, now)
        with self._locked():
            # (3) Consistency with what was accepted before; nothing is stored unless it holds.
            old = self._stored(origin)
            if old is None:
                if consistency_proof:
                    raise WitnessError(
                        f"no checkpoint of {origin} accepted yet, so the consistency proof must be empty; "
                        f"got {len(consistency_proof)} hashes"
                    )
            else:
                _check_extends(old, new, consistency_proof)
            # (4) Persist before answering.
            _write_atomically(self._path(origin), note)
        kept = [line + b"\n" for line in lines if line not in own]
        return body + b"\n" + b"".join(kept) + cosignature


def _is_by(line: bytes, signer: CosignatureSigner) -> bool:
    """True if a signature line names this witness's name and key id (a cosignature to replace)."""
    try:
        name, payload = _split_line(line)
    except WitnessError:
        return False
    return name == signer.name and payload[:4] == signer.key_id


def _check_extends(old: Checkpoint, new: Checkpoint, proof: Sequence[bytes]) -> None:
    """Raise unless ``new`` is ``old`` or an append-only extension of it, as ``proof`` shows."""
    origin = old.origin
    if new.size < old.size:
        raise OlderCheckpoint(
            f"checkpoint of {origin} at size {new.size} is older than the accepted size {old.size}",
            size=old.size,
        )
    if new.size == old.size and new.root != old.root:
        raise LogInconsistent(
            f"log {origin} forked: two checkpoints at size {new.size} with different roots "
            f"({old.root.hex()} accepted, {new.root.hex()} offered)",
            old=old,
            new=new,
        )
    try:
        verify_consistency(old.size, new.size, old.root, new.root, proof)
    except MerkleError as err:
        raise LogInconsistent(
            f"log {origin} is inconsistent: checkpoint at size {new.size} is not shown to extend the "
            f"accepted one at size {old.size} (the log forked or the proof is wrong): {err}",
            old=old,
            new=new,
        ) from err


def _write_atomically(path: Path, data: bytes) -> None:
    """Write via a synced temporary file and os.replace, so a crash leaves the old or the new file."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    # The rename itself is durable only once the directory is synced.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
