"""Python client SDK: holds the caller's key, builds and signs entries, appends them.

    client = LedgerClient.from_key_file("https://ledger.example", key_file="me.key",
                                        passphrase=..., author="inv-001", role="investigator",
                                        site="site-01", token="tl_…")
    client.register_participant("P-001", sex="F", date_of_birth="1961-04-02", weight_kg=64.0)
    client.sign_consent("P-001", form_version="2.1", signed_on="2026-11-25")

The private key never leaves this process: only signatures and public data are sent.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

from api.client.clinical import ClinicalRecords
from api.client.monitor import LogMonitor
from ledger.entry import ZERO_HASH
from ledger.errors import Head
from ledger.keys import load_private_key
from ledger.signer import Signer

PARTICIPANT = "participant/"


class LedgerClientError(Exception):
    """The server refused a request; `problem` is its RFC 9457 body."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.problem = dict(problem)
        self.rule = str(problem.get("rule", ""))
        super().__init__(f"{status} {self.rule}: {problem.get('detail', '')}")


CONNECT_RETRIES = 3


class LedgerClient(ClinicalRecords):
    def __init__(self, base_url: str = "", *, signer: Signer, token: str,
                 http: httpx.Client | None = None, max_retries: int = 5,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.signer = signer
        self.clock = clock or _utc_now  # when things are observed (a simulation brings its own)
        # A connection that could not be made carried no request: httpx tries it again (it
        # retries connect failures only, never a request that may have reached the server).
        self.http = http or httpx.Client(base_url=base_url, timeout=30.0,
                                         transport=httpx.HTTPTransport(retries=CONNECT_RETRIES))
        if token:  # login() starts without one; "Bearer " alone is not a valid header value
            self.http.headers["Authorization"] = f"Bearer {token}"
        self.max_retries = max_retries
        self._origin: str | None = None
        self.session: dict[str, Any] | None = None  # set by login()
        self.log = LogMonitor(self.http)  # checkpoints kept and proofs checked (api/client/monitor.py)

    def close(self) -> None:
        """Close the HTTP connections this client holds."""
        self.http.close()

    def __enter__(self) -> LedgerClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @classmethod
    def from_key_file(cls, base_url: str, *, key_file: Path | str, passphrase: str, author: str,
                      role: str, site: str, token: str, client: str = "trial-ledger-sdk/0.1",
                      ) -> LedgerClient:
        key = load_private_key(Path(key_file), passphrase)
        return cls(base_url, signer=Signer(key, author, role, site, client), token=token)

    @classmethod
    def login(cls, base_url: str = "", *, signer: Signer, http: httpx.Client | None = None,
              max_retries: int = 5, clock: Callable[[], datetime] | None = None) -> LedgerClient:
        """Log in with the signer's key (a `session.opened` entry on `access/{author}`); the
        client then holds a session token that ages out. The first attempt learns the stream's
        head from the 409 answer, as no token yet allows reading it."""
        client = cls(base_url, signer=signer, token="", http=http, max_retries=max_retries,
                     clock=clock)
        stream = f"access/{signer.author}"
        head = Head(stream, 0, ZERO_HASH)
        for _ in range(max_retries + 1):
            submission = signer.sign(ledger=client.origin, head=head, type="session.opened",
                                     payload={"nonce": secrets.token_urlsafe(24)},
                                     occurred_at=client.clock())
            response = client.http.post("/v1/sessions", json=submission.__dict__)
            if response.status_code == 201:
                body = response.json()
                client.http.headers["Authorization"] = f"Bearer {body['token']}"
                client.session = body
                return client
            problem = _problem(response)
            if response.status_code != 409 or "head" not in problem:
                raise LedgerClientError(response.status_code, problem)
            known = problem["head"]
            head = Head(known["stream"], known["version"], known["record_hash"])
        raise LedgerClientError(409, _problem(response))

    def logout(self) -> dict[str, Any]:
        """End this session: the token stops working; the logout is recorded."""
        response = self.http.post("/v1/sessions/close")
        if response.status_code != 200:
            raise LedgerClientError(response.status_code, _problem(response))
        result: dict[str, Any] = response.json()
        return result

    # -- reading --------------------------------------------------------------------------
    @property
    def origin(self) -> str:
        if self._origin is None:
            self._origin = str(self._get("/v1/health")["origin"])
        return self._origin

    def head(self, stream: str) -> Head:
        body = self._get(f"/v1/streams/{stream}")
        return Head(body["stream"], body["version"], body["record_hash"])

    def participant(self, participant_id: str) -> dict[str, Any]:
        return self._get(f"/v1/participants/{participant_id}")

    # -- appending ------------------------------------------------------------------------
    def append(self, stream: str, type: str, payload: Mapping[str, Any], *, schema: int = 1,
               meaning: str = "authorship", reason: str | None = None,
               occurred_at: datetime | None = None) -> dict[str, Any]:
        """Sign against the stream's head and append; on 409 re-read the head and re-sign."""
        head = self.head(stream)
        for _ in range(self.max_retries + 1):
            submission = self.signer.sign(
                ledger=self.origin, head=head, type=type, payload=payload, schema=schema,
                meaning=meaning, reason=reason, occurred_at=occurred_at or self.clock())
            response = self.http.post("/v1/entries", json=submission.__dict__)
            if response.status_code == 201:
                result: dict[str, Any] = response.json()
                return result
            if response.status_code != 409:
                raise LedgerClientError(response.status_code, _problem(response))
            head = self.head(stream)
        raise LedgerClientError(409, _problem(response))

    def append_batch(self, items: Sequence[tuple[str, str, Mapping[str, Any]]], *,
                     occurred_at: datetime | None = None) -> list[dict[str, Any]]:
        """Append (stream, type, payload) items in one transaction, all or nothing (one item per
        stream). On 409 every head is read again and every entry signed again."""
        for _ in range(self.max_retries + 1):
            entries = [self.signer.sign(ledger=self.origin, head=self.head(stream), type=kind,
                                        payload=payload, occurred_at=occurred_at or self.clock())
                       .__dict__ for stream, kind, payload in items]
            response = self.http.post("/v1/entries/batch", json={"entries": entries})
            if response.status_code == 201:
                receipts: list[dict[str, Any]] = response.json()["receipts"]
                return receipts
            if response.status_code != 409:
                raise LedgerClientError(response.status_code, _problem(response))
        raise LedgerClientError(409, _problem(response))

    def register_participant(self, participant_id: str, *, sex: str, date_of_birth: date | str,
                             weight_kg: float, site: str | None = None) -> dict[str, Any]:
        return self.append(PARTICIPANT + participant_id, "participant.registered", {
            "participant_id": participant_id, "site": site or self.signer.site, "sex": sex,
            "date_of_birth": str(date_of_birth), "weight_kg": float(weight_kg)})

    def sign_consent(self, participant_id: str, *, form_version: str,
                     signed_on: date | str) -> dict[str, Any]:
        return self.append(PARTICIPANT + participant_id, "consent.signed",
                           {"form_version": form_version, "signed_on": str(signed_on)})

    def withdraw_consent(self, participant_id: str, *, form_version: str,
                         withdrawn_on: date | str, follow_up: str = "none",
                         reason: str | None = None) -> dict[str, Any]:
        """`follow_up` is what the participant still agreed to: `none`, `vital_status` or
        `safety` (`consent.withdrawn` schema 2)."""
        return self.append(PARTICIPANT + participant_id, "consent.withdrawn",
                           {"form_version": form_version, "withdrawn_on": str(withdrawn_on),
                            "follow_up": follow_up}, schema=2, reason=reason)

    def assess_eligibility(self, participant_id: str, *, assessed_on: date | str,
                           answers: Mapping[str, bool], esld_confirmed: bool,
                           protocol_version: str = "1.0") -> dict[str, Any]:
        """Every criterion answered: inclusion ids True when met, exclusion ids True when they apply."""
        return self.append(PARTICIPANT + participant_id, "eligibility.assessed", {
            "protocol_version": protocol_version, "assessed_on": str(assessed_on),
            "esld_confirmed": esld_confirmed, "answers": dict(answers)})

    def request_randomisation(self, participant_id: str, *, stratum: str | None = None) -> dict[str, Any]:
        """Ask the randomiser; its answer (`participant.randomised`) is among the follow-ups."""
        return self.append(PARTICIPANT + participant_id, "randomisation.requested",
                           {} if stratum is None else {"stratum": stratum})

    def record_infusion(self, participant_id: str, *, infusion_number: int, started_at: datetime,
                        ended_at: datetime, weight_kg: float, cells_per_kg: float, total_cells: float,
                        lot: str, route: str = "peripheral vein") -> dict[str, Any]:
        return self.append(PARTICIPANT + participant_id, "infusion.administered", {
            "infusion_number": infusion_number, "started_at": started_at.isoformat(),
            "ended_at": ended_at.isoformat(), "weight_kg": float(weight_kg),
            "cells_per_kg": float(cells_per_kg), "total_cells": float(total_cells), "lot": lot,
            "route": route})

    def exit_participant(self, participant_id: str, how: str, *, on: date | str,
                         reason: str | None = None) -> dict[str, Any]:
        """`how` is withdrawn, lost_to_follow_up or completed, as schema 1 records (date only; a
        withdrawal needs a reason). New exits carry coded reasons: `withdraw`,
        `lost_to_follow_up` and `complete` (api/client/clinical.py)."""
        return self.append(PARTICIPANT + participant_id, f"participant.{how}", {"on": str(on)},
                           reason=reason)

    def invalidate_randomisation(self, participant_id: str, *, what: str, reason: str) -> dict[str, Any]:
        """Retire an erroneous allocation: its slot is never reused; randomise again afterwards."""
        return self.append(PARTICIPANT + participant_id, "randomisation.invalidated",
                           {"slot_error": what}, reason=reason)

    def request_unblinding(self, participant_id: str, *, reason: str, informed: list[str],
                           key_file: Path | str, passphrase: str,
                           occurred_at: datetime | None = None) -> dict[str, Any]:
        """Emergency unblinding of one participant. The key is opened again from its file with the
        passphrase (re-authentication) and the request is signed at once."""
        key = load_private_key(Path(key_file), passphrase)
        if key.public_key() != self.signer.key.public_key():
            raise LedgerClientError(403, {"rule": "auth.not_your_key",
                                          "detail": "that key file is not this client's key"})
        fresh = Signer(key, self.signer.author, self.signer.role, self.signer.site, self.signer.client)
        held, self.signer = self.signer, fresh
        try:
            return self.append(PARTICIPANT + participant_id, "unblinding.requested",
                               {"informed": list(informed), "emergency": True},
                               meaning="responsibility", reason=reason, occurred_at=occurred_at)
        finally:
            self.signer = held

    def record_lab(self, participant_id: str, *, visit: str, analyte: str, value: float, unit: str,
                   sampled_at: datetime, control_pt_s: float | None = None) -> dict[str, Any]:
        """One analyte of one visit; the sample time is the observation time."""
        payload: dict[str, Any] = {"visit": visit, "analyte": analyte, "value": float(value),
                                   "unit": unit, "sampled_at": sampled_at.isoformat()}
        if control_pt_s is not None:
            payload["control_pt_s"] = float(control_pt_s)
        return self.append(PARTICIPANT + participant_id, "lab.resulted", payload)

    def correct_lab(self, participant_id: str, *, supersedes: str, value: float | None, unit: str,
                    reason: str, query: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"supersedes": supersedes, "unit": unit,
                                   "value": None if value is None else float(value)}
        if query is not None:
            payload["query"] = query
        return self.append(PARTICIPANT + participant_id, "lab.corrected", payload, reason=reason)

    def remove_lab(self, participant_id: str, *, supersedes: str, reason: str) -> dict[str, Any]:
        return self.append(PARTICIPANT + participant_id, "lab.removed", {"supersedes": supersedes},
                           reason=reason)

    def open_query(self, participant_id: str, *, record: str, field: str, text: str) -> dict[str, Any]:
        return self.append(PARTICIPANT + participant_id, "query.opened",
                           {"record": record, "field": field, "text": text})

    def answer_query(self, participant_id: str, *, query: str, text: str) -> dict[str, Any]:
        return self.append(PARTICIPANT + participant_id, "query.answered", {"query": query, "text": text})

    def close_query(self, participant_id: str, *, query: str) -> dict[str, Any]:
        return self.append(PARTICIPANT + participant_id, "query.closed", {"query": query})

    def sign_off(self, participant_id: str, *, printed_name: str, statement: str, key_file: Path | str,
                 passphrase: str, meaning: str = "approval") -> dict[str, Any]:
        """The investigator's e-signature over the participant's records as they stand. The key
        is opened from its file with the passphrase for each signature (ID + password)."""
        key = load_private_key(Path(key_file), passphrase)
        if key.public_key() != self.signer.key.public_key():
            raise LedgerClientError(403, {"rule": "auth.not_your_key",
                                          "detail": "that key file is not this client's key"})
        held = self.signer
        self.signer = Signer(key, held.author, held.role, held.site, held.client)
        try:
            return self.append(PARTICIPANT + participant_id, "signoff.signed",
                               {"printed_name": printed_name, "statement": statement}, meaning=meaning)
        finally:
            self.signer = held

    def complete_visit(self, participant_id: str, *, visit: str, on: date | str) -> dict[str, Any]:
        """A scheduled visit took place (a protocol visit id, e.g. `week_4`)."""
        return self.append(PARTICIPANT + participant_id, "visit.completed",
                           {"visit": visit, "on": str(on)})

    def record_assessment(self, participant_id: str, *, visit: str, observed_on: date | str,
                          ascites: str, encephalopathy_grade: int, dialysis: bool,
                          weight_kg: float | None = None) -> dict[str, Any]:
        """The clinical findings of a visit (what Child-Pugh and the MELD family need besides
        labs), observed on `observed_on` (`assessment.recorded` schema 2)."""
        payload: dict[str, Any] = {"visit": visit, "observed_on": str(observed_on),
                                   "ascites": ascites, "encephalopathy_grade": encephalopathy_grade,
                                   "dialysis": dialysis}
        if weight_kg is not None:
            payload["weight_kg"] = float(weight_kg)
        return self.append(PARTICIPANT + participant_id, "assessment.recorded", payload, schema=2)

    def redact(self, record_hash: str, *, reason: str) -> dict[str, Any]:
        """Remove one record's payload with a justification (admin, data manager; R7)."""
        return self.append("redactions", "record.redacted", {"record": record_hash}, reason=reason)

    def sdv(self, participant_id: str, *, visit: str, form: str, level: str) -> dict[str, Any]:
        return self.append(PARTICIPANT + participant_id, "sdv.recorded",
                           {"visit": visit, "form": form, "level": level}, meaning="verification")

    def lock(self, participant_id: str, *, scope: str) -> dict[str, Any]:
        return self.append(PARTICIPANT + participant_id, "lock.applied", {"scope": scope})

    def unlock(self, participant_id: str, *, scope: str, reason: str) -> dict[str, Any]:
        return self.append(PARTICIPANT + participant_id, "lock.released", {"scope": scope}, reason=reason)

    def history(self, participant_id: str) -> list[dict[str, Any]]:
        return list(self._get(f"/v1/participants/{participant_id}/history")["records"])

    def unblindings(self) -> list[dict[str, Any]]:
        return list(self._get("/v1/unblindings")["unblindings"])

    def _get(self, path: str) -> dict[str, Any]:
        response = self.http.get(path)
        if response.status_code != 200:
            raise LedgerClientError(response.status_code, _problem(response))
        body: dict[str, Any] = response.json()
        return body


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"detail": response.text[:200]}
    return body if isinstance(body, dict) else {"detail": str(body)[:200]}
