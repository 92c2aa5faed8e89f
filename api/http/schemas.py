"""Response bodies of the HTTP API as the OpenAPI document states them, one model per JSON route.

They describe what the routes return; the routes still build their answers as they always did,
so the bytes on the wire do not depend on these models. tests/test_openapi_fuzz.py holds every
answer to its model. Where masking (blinding) may replace a value, the field also allows
"masked"; payloads are the entry types' own documents (see `GET /v1/entry-types`), so they are
objects here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Masked = Literal["masked"]
Doc = dict[str, Any]


class Page(BaseModel):
    offset: int
    limit: int
    total: int
    next: int | None = Field(description="the following page's offset; null on the last page")


class Health(BaseModel):
    status: Literal["ok"]
    initialised: bool
    origin: str | None = Field(description="the log's origin line (the trial), once initialised")
    checkpoint_key: str | None = Field(description="the checkpoint verifier key (C2SP note format)")


class EntryType(BaseModel):
    stream: str = Field(description="the stream, `{id}` standing for the participant's id")
    type: str
    schema_version: int = Field(alias="schema")
    roles: list[str] = Field(description="the roles that may author it")
    description: str | None = None
    reason: Literal["required"] | None = None
    payload: Doc = Field(description="the payload's JSON Schema")
    example: Doc


class EntryTypes(BaseModel):
    entry_types: list[EntryType]


# Transparency ------------------------------------------------------------------------------

class InclusionProof(BaseModel):
    """RFC 9162 §2.1.3: the audit path of one leaf in the tree a signed checkpoint names
    (docs/formats.md, "Proofs over HTTP")."""

    leaf_index: int = Field(ge=0, description="the leaf, counted from 0 (genesis)")
    tree_size: int = Field(ge=1, description="the size of the signed checkpoint the proof is against")
    proof: list[str] = Field(
        description="the audit path, leaf side first: base64 SHA-256 node hashes (RFC 9162, each "
                    "43 characters and '='); empty for the only leaf of a tree of size 1")


class ConsistencyProof(BaseModel):
    """RFC 9162 §2.1.4: that the checkpointed tree of size `first` is a prefix of that of size
    `second` (docs/formats.md, "Proofs over HTTP")."""

    first: int = Field(ge=1, description="the older tree size, a signed checkpoint's")
    second: int = Field(ge=1, description="the newer tree size, a signed checkpoint's (>= first)")
    proof: list[str] = Field(
        description="base64 SHA-256 node hashes (RFC 9162, each 43 characters and '='); empty "
                    "when first equals second")


class RecordView(BaseModel):
    """A record as stored: its sealed bytes let a client check the signature and leaf hash."""

    leaf_index: int
    position: int | None
    record_hash: str
    stream: str
    version: int
    type: str
    recorded_at: str
    sealed: str = Field(description="the sealed record, canonical JSON text")
    payload: str | None = Field(description="canonical JSON text; null when redacted or withheld")
    salt: str | None = Field(description="base64; null when redacted or withheld")
    redacted_by: str | None
    withheld: str | None = Field(None, description="why the payload is withheld from this role")


class WithheldLeaf(BaseModel):
    leaf_index: int
    withheld: str = Field(description="why the record is not shown to this role")


class RecordOut(BaseModel):
    record: RecordView
    checkpoint: str = Field(description="the latest signed checkpoint note")
    inclusion: InclusionProof | None = Field(
        None, description="absent while the record is not yet under a signed checkpoint")


class LogPage(BaseModel):
    start: int
    limit: int
    records: list[RecordView | WithheldLeaf]
    next: int | None = Field(description="the following page's start; null on the last page")


class Finding(BaseModel):
    check: str
    detail: str
    leaf_index: int | None
    position: int | None
    stream: str | None
    version: int | None


class VerifyReport(BaseModel):
    ok: bool
    records: int
    streams: int
    tree_size: int
    root: str
    checkpoints: int
    redactions: list[Doc]
    witnessed: dict[str, int] = Field(description="witness -> largest size it cosigned")
    findings: list[Finding]


class Cosigned(BaseModel):
    size: int = Field(description="the checkpoint's tree size")
    added: int = Field(description="cosignature lines kept (0: all were known already)")


# Entries and sessions --------------------------------------------------------------------------

class Session(BaseModel):
    token: str = Field(description="the bearer token; shown once")
    session: str = Field(description="record hash of the session.opened record")
    author: str
    role: str
    expires_at: str


class Closed(BaseModel):
    closed: str | None = Field(description="the session ended (null for a standing token)")
    record_hash: str = Field(description="the session.closed record")


# Participants and views ------------------------------------------------------------------------

class ParticipantLine(BaseModel):
    participant_id: str
    site: str | None
    status: str
    stage: str
    eligible: bool | None
    arm: str | None
    slot: int | Masked | None
    visits: int
    infusions: int
    open_queries: int
    locks: int
    signoffs: int


class Participants(Page):
    participants: list[ParticipantLine]


class Participant(BaseModel):
    """A participant's state folded from its stream, with scores per visit."""

    participant_id: str | None
    site: str | None
    sex: str | None
    date_of_birth: str | None
    weight_kg: float | None
    registered_at: str | None
    status: str
    consent_form: str | None
    consent_history: list[Doc]
    stage: str
    eligible: bool | None
    failed_criteria: list[str]
    assessed_on: str | None
    stratum: str | Masked | None
    slot: int | Masked | None
    arm: str | Masked | None
    infusions: list[Doc]
    deviations: list[Doc]
    unblindings: list[Doc]
    visits: list[Doc]
    labs: dict[str, Doc] = Field(description='"visit/analyte" -> current value and its history')
    queries: dict[str, Doc] = Field(description="query record hash -> query")
    record_hashes: list[str]
    sdv: dict[str, Doc]
    locks: list[str]
    unlocked: list[str]
    post_lock: list[str]
    signoffs: list[Doc]
    edit_checks: dict[str, Doc]
    assessments: dict[str, Doc]
    scores: dict[str, dict[str, Doc]] = Field(description="visit -> algorithm -> result")


class HistoryRow(BaseModel):
    version: int
    type: str
    record_hash: str
    author: str
    role: str
    site: str
    meaning: str
    occurred_at: str
    recorded_at: str
    reason: str | None
    payload: Doc | None
    redacted_by: str | None
    stream: str
    withheld: str | None = None


class History(Page):
    participant_id: str
    records: list[HistoryRow]


class Scores(BaseModel):
    participant_id: str
    scores: dict[str, dict[str, Doc]] = Field(description="visit -> algorithm -> result")


class Unblinding(BaseModel):
    participant_id: str
    by: str
    at: str
    reason: str | None
    informed: list[str]
    record_hash: str


class Unblindings(Page):
    unblindings: list[Unblinding]


class Summary(BaseModel):
    registered: int
    target_enrolment: int | None
    randomised: int
    stages: dict[str, int]
    visits_done: int
    deviations: int
    open_queries: int
    per_arm: dict[str, int] | None = Field(None, description="absent for blinded roles")


class AllocationRow(BaseModel):
    stratum: str
    slot: int
    arm: str
    participant_id: str
    randomised_at: str
    by: str
    record_hash: str
    invalidated: Doc | None


class Allocation(Page):
    allocation: list[AllocationRow]
    as_of: str | None = None


class AuditRow(BaseModel):
    """One record of the audit trail: who, what, when, why; `new` masked as the role requires."""

    leaf_index: int
    recorded_at: str
    observed_at: str
    author: str
    role: str
    site: str
    stream: str
    version: int
    type: str
    field: str | None
    previous: Any
    new: Any
    reason: str | None
    meaning: str
    client: str
    redacted: bool
    record_hash: str
    withheld: str | None = None


class AuditPage(BaseModel):
    offset: int
    limit: int
    rows: list[AuditRow]
    as_of: str | None = None


class ViewStatus(BaseModel):
    name: str
    position: int
    tree_size: int
    root: str
    fingerprint: str
    rows: int


class Projections(BaseModel):
    projections: list[ViewStatus]


class RightsRow(BaseModel):
    recorded_at: str
    action: Literal["granted", "revoked", "locked", "unlocked"]
    author: str | None
    name: str | None
    role: str | None
    site: str | None
    key: str | None
    by: str
    reason: str | None
    record_hash: str


class RightsHistory(Page):
    columns: list[str]
    rows: list[RightsRow]
