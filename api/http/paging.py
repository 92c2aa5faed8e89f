"""Paging for every list: `offset` and `limit` in, `total` and `next` (the following page's
offset, or null on the last page) out, the same on every route."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Query

Offset = Annotated[int, Query(ge=0, le=2**53, description="skip this many")]
Limit = Annotated[int, Query(ge=1, le=1000, description="at most this many (1–1000)")]


def paged(key: str, items: Sequence[Any], offset: int, limit: int) -> dict[str, Any]:
    """`items[offset:offset + limit]` under `key`, with the page's bearings."""
    end = offset + limit
    return {key: list(items[offset:end]), "offset": offset, "limit": limit, "total": len(items),
            "next": end if end < len(items) else None}
