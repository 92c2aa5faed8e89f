"""Clients for the reliability tests: threads that append through the SDK (api/client/sdk.py) over
real HTTP and keep score of what the server acknowledged and what it never answered.

Each worker holds two keys: an investigator's, for its own participants (registered, consented,
assessed, some randomised, baseline labs), and a monitor's, for queries on the shared
participants, where workers collide (409) and the SDK re-reads the head and signs again.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx

from api.client.sdk import LedgerClient, LedgerClientError

from .live_server import Identity

ELIGIBLE = {"inc-1": True, "inc-2": True, "inc-3": True, **{f"exc-{i}": False for i in range(1, 12)}}
LABS = (("ALT", 31.0, "U/L"), ("AST", 28.0, "U/L"), ("ALP", 90.0, "U/L"))
#: Retries on 409 before the SDK gives up; 50 clients on a few shared streams need more than 5.
MAX_RETRIES = 200
CONNECT_RETRIES = 3


@dataclass(frozen=True)
class Sent:
    """An entry POSTed whose answer never came: it must exist whole or not at all."""

    entry: str  # the signed entry text, exactly as sent
    stream: str
    version: int


@dataclass
class Tally:
    sent: int = 0  # entry POSTs, retries included
    #: record hash -> (stream, version, leaf index), from each receipt
    acked: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    entries_acked: int = 0  # 201 answers (follow-ups come with them, in `acked`)
    unacked: list[Sent] = field(default_factory=list)
    conflicts: int = 0  # 409 answers, each retried by the SDK
    randomised: list[str] = field(default_factory=list)  # participants whose request was acked
    refused: list[str] = field(default_factory=list)  # anything else: the test fails on these

    def merge(self, other: Tally) -> None:
        self.sent += other.sent
        self.acked.update(other.acked)
        self.entries_acked += other.entries_acked
        self.unacked += other.unacked
        self.conflicts += other.conflicts
        self.randomised += other.randomised
        self.refused += other.refused


class Worker:
    """One client thread. `run` appends until `stop` is set, `participants` are done, or the
    server goes away (the first transport error ends the worker: its server was killed)."""

    def __init__(self, base_url: str, investigator: Identity, monitor: Identity,
                 shared: dict[str, str], *, prefix: str, randomise_every: int = 2,
                 queries_per_participant: int = 1, seed: int = 0, timeout: float = 60.0) -> None:
        self.tally = Tally()
        self.pending: Sent | None = None  # the entry POST in flight, until answered
        self.shared = shared
        self.prefix = prefix
        self.randomise_every = randomise_every
        self.queries = queries_per_participant
        self.rng = random.Random(seed)
        self.investigator = self._client(base_url, investigator, timeout)
        self.monitor = self._client(base_url, monitor, timeout)
        self.server_gone = False
        self.gone_because = ""  # the transport error that ended the worker

    def _client(self, base_url: str, who: Identity, timeout: float) -> LedgerClient:
        # Connect failures are tried again, as the SDK's own client does (nothing was sent): on
        # two busy cores a live server may refuse a connection once; a killed one keeps refusing.
        http = httpx.Client(base_url=base_url, timeout=timeout,
                            transport=httpx.HTTPTransport(retries=CONNECT_RETRIES),
                            event_hooks={"request": [self._on_request], "response": [self._on_response]})
        return LedgerClient(signer=who.signer, token=who.token, http=http, max_retries=MAX_RETRIES)

    def close(self) -> None:
        self.investigator.close()
        self.monitor.close()

    # The hooks see every request and answer the SDK makes, retries included.
    def _on_request(self, request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path == "/v1/entries":
            entry = json.loads(request.content)["entry"]
            fields = json.loads(entry)
            self.pending = Sent(entry, fields["stream"], fields["version"])
            self.tally.sent += 1

    def _on_response(self, response: httpx.Response) -> None:
        if response.request.method == "POST" and response.request.url.path == "/v1/entries":
            if response.status_code == 409:
                self.tally.conflicts += 1
            if response.status_code != 201:  # a definite answer: nothing was written
                self.pending = None  # (a 201 counts once its receipt has been read in full)

    def run(self, stop: threading.Event, participants: int | None = None) -> None:
        try:
            n = 0
            while not stop.is_set() and (participants is None or n < participants):
                self._participant(f"{self.prefix}-{n:03d}", n, stop)
                n += 1
        except httpx.TransportError as exc:
            self.server_gone = True
            self.gone_because = repr(exc)
            # A refused connection never carried the request: only the others are in doubt.
            if self.pending is not None and not isinstance(exc, httpx.ConnectError):
                self.tally.unacked.append(self.pending)
            self.pending = None
        except Exception as exc:  # reported by the test, with the worker's name
            self.tally.refused.append(f"{self.prefix}: {exc!r}")

    def _participant(self, pid: str, n: int, stop: threading.Event) -> None:
        inv = self.investigator
        now = datetime.now(UTC)
        sampled = now - timedelta(hours=1)
        # consent signed on the day the baseline samples were taken (in a day's first hour, the
        # day before today): a sample taken before the day of consent is refused, and rightly
        steps: list[Callable[[], dict[str, Any]]] = [
            lambda: inv.register_participant(pid, sex="F", date_of_birth="1961-04-02", weight_kg=64.0),
            lambda: inv.sign_consent(pid, form_version="1.0", signed_on=sampled.date()),
            lambda: inv.assess_eligibility(pid, assessed_on=now.date(), esld_confirmed=True,
                                           answers=ELIGIBLE)]
        randomise = n % self.randomise_every == 0
        if randomise:
            steps.append(lambda: inv.request_randomisation(pid))
        for analyte, value, unit in LABS:
            steps.append(partial(inv.record_lab, pid, visit="baseline", analyte=analyte, value=value,
                                 unit=unit, sampled_at=sampled))
        # Queries first: workers start together, so the shared streams are contended at once.
        for _ in range(self.queries):
            shared = self.rng.choice(sorted(self.shared))
            self._do(partial(self.monitor.open_query, shared, record=self.shared[shared],
                             field="weight_kg", text=f"please confirm ({pid})"))
        for i, step in enumerate(steps):
            if stop.is_set():
                return
            receipt = self._do(step)
            if receipt is None:
                return  # refused: the rest of this participant would be refused too
            if randomise and i == 3:
                self.tally.randomised.append(pid)

    def _do(self, step: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        try:
            receipt = step()
        except LedgerClientError as exc:
            self.pending = None
            self.tally.refused.append(f"{self.prefix}: {exc}")
            return None
        self.pending = None
        self.tally.entries_acked += 1
        for r in (receipt, *receipt.get("follow_ups", [])):
            self.tally.acked[r["record_hash"]] = (r["stream"], r["version"], r["leaf_index"])
        return receipt


def run_workers(workers: list[Worker], stop: threading.Event,
                participants: int | None = None) -> list[threading.Thread]:
    threads = [threading.Thread(target=w.run, args=(stop, participants), daemon=True,
                                name=f"worker-{w.prefix}") for w in workers]
    for t in threads:
        t.start()
    return threads
