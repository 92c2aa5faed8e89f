"""Ed25519 keys: generate, store passphrase-encrypted (PKCS#8), load, identify, sign, verify."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from .canonical import b64decode, b64encode
from .entropy import random_bytes
from .errors import LedgerError

MIN_PASSPHRASE = 8
SIGNATURE_BYTES = 64


class KeyFileError(LedgerError):
    rule = "key.file"


def generate() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(random_bytes(32))  # the OS's CSPRNG (entropy.py)


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """Key id = fingerprint: lowercase hex SHA-256 of the 32 raw public-key bytes."""
    return hashlib.sha256(raw_public(key)).hexdigest()


def public_b64(key: Ed25519PublicKey) -> str:
    return b64encode(raw_public(key))


def public_from_b64(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(b64decode(text, "public_key", length=32))


def save_private_key(key: Ed25519PrivateKey, path: Path, passphrase: str) -> None:
    """Write an encrypted PKCS#8 PEM, readable only by its owner; never overwrites."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise KeyFileError(f"passphrase must have at least {MIN_PASSPHRASE} characters")
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode("utf-8")),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise KeyFileError(f"{path} exists already; refusing to overwrite a key") from exc
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


def load_private_key(path: Path, passphrase: str) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(data, passphrase.encode("utf-8"))
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"cannot open {path}: wrong passphrase or not a key file") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def write_public_key(key: Ed25519PublicKey, path: Path) -> None:
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    path.write_bytes(pem)


def read_public_key(path: Path) -> Ed25519PublicKey:
    """A public key file as written by `keys new` (PEM) or the bare base64 of 32 bytes."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read public key {path}: {exc.strerror}") from exc
    if b"PRIVATE KEY" in data:
        raise KeyFileError(f"{path} is a private key; give the public key file")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        else:
            key = public_from_b64(data.decode("ascii").strip())
    except (ValueError, UnicodeDecodeError, LedgerError) as exc:
        raise KeyFileError(f"{path} is not an Ed25519 public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} is not an Ed25519 public key")
    return key


def signature_valid(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    """True when the signature is valid over exactly these bytes.

    Checked by libsodium (PyNaCl), about 1.8 times OpenSSL's rate here (docs/performance.md, P2)
    and at least as strict: it also refuses small-order keys and R points and non-canonical
    encodings, which no honest signer produces."""
    if len(signature) != SIGNATURE_BYTES:
        return False
    try:
        crypto_sign_open(signature + message, raw_public(key))
    except BadSignatureError:
        return False
    return True


#: Below this many checks a batch is verified in the calling thread (a pool hand-off costs more).
PARALLEL_FROM = 32
_pools: dict[int, ThreadPoolExecutor] = {}
_pool_lock = threading.Lock()


def _verifier_pool(threads: int | None = None) -> ThreadPoolExecutor:
    """A pool of verifying threads: one a core, or as many as asked for."""
    size = max(1, threads or os.cpu_count() or 1)
    with _pool_lock:
        if size not in _pools:
            _pools[size] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="ed25519-verify")
        return _pools[size]


def _check_slice(checks: Sequence[tuple[Ed25519PublicKey, bytes, bytes]]) -> list[bool]:
    return [signature_valid(key, signature, message) for key, signature, message in checks]


def signatures_valid(checks: Sequence[tuple[Ed25519PublicKey, bytes, bytes]]) -> list[bool]:
    """`signature_valid` for many (key, signature, message) at once, spread over the cores.

    libsodium's verify runs with the GIL released (PyNaCl calls it through cffi), so threads
    verify in parallel; each result is exactly what `signature_valid` gives for that check."""
    cores = os.cpu_count() or 1
    if len(checks) < PARALLEL_FROM or cores == 1:
        return _check_slice(checks)
    step = -(-len(checks) // cores)
    parts = [checks[i:i + step] for i in range(0, len(checks), step)]
    return [ok for part in _verifier_pool().map(_check_slice, parts) for ok in part]


class PendingChecks:
    """Checks started now on the verifier pool; `result(i)` waits for the i-th one only, so the
    caller can go on with other work (decisions, inserts) while the other cores verify. The
    caller keeps a core to itself: a verifier thread descheduled while it holds the GIL would
    stall the caller, which is the one holding the write lock.

    The checks are shared out one at a time, in order, to whoever claims the next: the verifier
    threads, and the caller itself when the answer it asks for is not in yet. A verifier takes
    the GIL back after every check, so while the caller runs Python it falls behind; the caller
    then checks what nobody has begun instead of waiting for it, and waits only once every check
    is begun, for one a verifier is in the middle of (libsodium runs without the GIL: both check
    at once)."""

    THREADS = max(1, (os.cpu_count() or 1) - 1)

    def __init__(self, checks: Sequence[tuple[Ed25519PublicKey, bytes, bytes]], *,
                 spare_core: bool = True) -> None:
        """`spare_core=False`: verify on every core (a caller whose own work can wait, such as
        the verifier, which holds no lock)."""
        self._checks = checks
        #: Each check's answer once made: its bool, or what it raised (raised again to the asker).
        self._answers: list[bool | BaseException | None] = [None] * len(checks)
        self._next = 0  # the first check nobody has claimed
        self._lock = threading.Lock()
        self._answered = threading.Condition(self._lock)
        if len(checks) < PARALLEL_FROM or (os.cpu_count() or 1) == 1:
            self._answers = list(_check_slice(checks))
            self._next = len(checks)
            return
        threads = self.THREADS if spare_core else max(1, os.cpu_count() or 1)
        pool = _verifier_pool(threads)
        for _ in range(threads):
            pool.submit(self._work)

    def _claim(self) -> int | None:
        with self._lock:
            if self._next >= len(self._checks):
                return None
            self._next += 1
            return self._next - 1

    def _check(self, j: int) -> None:
        key, signature, message = self._checks[j]
        answer: bool | BaseException
        try:
            answer = signature_valid(key, signature, message)
        except BaseException as exc:  # (the asker raises it, as the check alone would have)
            answer = exc
        with self._lock:
            self._answers[j] = answer
            self._answered.notify_all()

    def _work(self) -> None:
        """A verifier thread's share: the next unclaimed check, until none is left."""
        while (j := self._claim()) is not None:
            self._check(j)

    def result(self, index: int) -> bool:
        answer = self._answers[index]
        while answer is None:
            # Not in: check the next one nobody has begun (this one, one before it, or one after
            # it while a verifier is in the middle of this one: all are needed), else wait.
            j = self._claim()
            if j is not None:
                self._check(j)
            else:
                with self._lock:
                    while self._answers[index] is None:
                        self._answered.wait()
            answer = self._answers[index]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def answer(self, index: int) -> Callable[[], bool]:
        """The i-th result, to be asked for later (waiting for it then, if it is not in yet)."""
        return lambda: self.result(index)
