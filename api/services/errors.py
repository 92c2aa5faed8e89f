"""Refusals of a caller, apart from the ledger's own: who may not do what (401, 403 over HTTP)."""

from __future__ import annotations


class Denied(Exception):
    """Authentication (401) or authorisation (403) failed."""

    def __init__(self, status: int, rule: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.rule, self.detail = status, rule, detail
